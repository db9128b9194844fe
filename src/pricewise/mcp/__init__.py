"""MCP server over the estimation and analytics functions, with dual auth (HMAC + short-lived JWT)."""

"""Sample documentation in the three formats: each paragraph on its own topic, so that a query
has one right passage."""

from __future__ import annotations

import io

BILLING_HTML = b"""<!doctype html>
<html><head><title>Billing FAQ - Acme Analytics</title>
<style>body { font-family: sans-serif } .trackingStyleRule { color: red }</style>
<script>window.trackingPixelSecret = "do-not-index";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing</a> <a href="/login">NavigationLoginLink</a></nav>
<main>
<h1>Billing FAQ</h1>
<p>Refunds: if you cancel within 30 days of purchase, we refund the full amount to the original
payment method. Refund requests are processed within five business days.</p>
<p>Invoices are issued on the first day of each month and can be downloaded as PDF from the
billing page. Every invoice lists the seats used and any overage charges.</p>
<p>We accept credit cards, ACH bank transfers and wire transfers for annual contracts. Purchase
orders are accepted for enterprise customers paying more than 10,000 dollars a year.</p>
</main>
<footer>Copyright Acme FooterBoilerplate</footer>
</body></html>
"""

SETUP_MD = b"""# Setup guide

Install the collector agent with the package manager of your server, then start it as a
service. The agent sends usage events every minute.

## Single sign-on

To configure single sign-on, open Settings, choose SAML, and paste the metadata URL of your
identity provider such as Okta or Azure AD. Users are created on their first login.

## Data retention

Raw usage events are kept for 13 months; aggregated monthly metrics are kept for as long as the
account exists.
"""

SETUP_MD_V2 = SETUP_MD.replace(b"kept for 13 months", b"kept for 25 months, then archived to cold storage")

SECURITY_PARAGRAPHS = [
    "Security whitepaper",
    "Encryption: all customer data is encrypted at rest with AES-256 and in transit with TLS 1.3. "
    "Encryption keys are rotated every ninety days by the key management service.",
    "Compliance: the platform completed its SOC 2 Type II audit last year and is reviewed by an "
    "independent auditor annually. Penetration tests are run every quarter.",
    "Availability: the service runs in three availability zones and the uptime commitment is 99.9 "
    "percent per month, with service credits when it is missed.",
]


def security_pdf() -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title="Acme Security Whitepaper")
    styles = getSampleStyleSheet()
    story = [Paragraph(SECURITY_PARAGRAPHS[0], styles["Title"])]
    for p in SECURITY_PARAGRAPHS[1:]:
        story += [Paragraph(p, styles["BodyText"]), Spacer(1, 18)]
    doc.build(story)
    return buf.getvalue()

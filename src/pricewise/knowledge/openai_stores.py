"""A small client of the OpenAI files and vector stores endpoints (any OpenAI-compatible server).

Only what the documentation sync needs: upload a text file, create a vector store, attach and
detach a file, delete a file or a store. The key lives in this object only and is sent in one
header; error messages are built from redacted text, so the key cannot leak through them.
No database and no web framework here.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from pricewise.core.llm import error_detail
from pricewise.core.logs import scrub

UPLOAD_TIMEOUT_FACTOR = 4  # an upload of a large document takes longer than a JSON call
_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")  # ids go back into URL paths: nothing else is accepted


class RemoteError(Exception):
    """A call that failed: the server's status (None: no answer) and a message safe to log."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class VectorStoreClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.__key = api_key

    def __repr__(self) -> str:  # never the key
        return f"VectorStoreClient(base_url={self.base_url!r})"

    def _redact(self, text: str) -> str:
        return scrub(text.replace(self.__key, "***") if self.__key else text)

    async def _call(self, method: str, path: str, what: str, *, json: Any = None,
                    files: dict[str, Any] | None = None, data: dict[str, str] | None = None,
                    missing_ok: bool = False) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.__key}", "OpenAI-Beta": "assistants=v2"}
        timeout = self.timeout * (UPLOAD_TIMEOUT_FACTOR if files else 1)
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                resp = await client.request(method, f"{self.base_url}{path}", headers=headers, json=json,
                                            files=files, data=data)
        except httpx.TimeoutException:
            raise RemoteError(f"{what}: the server did not answer within {timeout:g}s") from None
        except httpx.TransportError as exc:
            raise RemoteError(f"{what}: could not reach the server ({type(exc).__name__})") from None
        if resp.status_code == 404 and missing_ok:  # already gone: what a delete wanted
            return {}
        if resp.status_code >= 400:
            raise RemoteError(f"{what}: the server answered {resp.status_code}: {self._detail(resp)}",
                              resp.status_code)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RemoteError(f"{what}: the answer is not a JSON object", resp.status_code)
        return body

    def _detail(self, resp: httpx.Response) -> str:
        return error_detail(resp, self._redact)

    @staticmethod
    def _id(body: dict[str, Any], what: str) -> str:
        value = body.get("id")
        if not isinstance(value, str) or not _ID.match(value):
            raise RemoteError(f"{what}: the answer has no usable id")
        return value

    async def upload_text(self, filename: str, text: str) -> str:
        """POST /files (purpose "assistants") -> the file's id."""
        body = await self._call("POST", "/files", "uploading the document", data={"purpose": "assistants"},
                                files={"file": (filename, text.encode(), "text/plain")})
        return self._id(body, "uploading the document")

    async def create_store(self, name: str, metadata: dict[str, str]) -> str:
        """POST /vector_stores -> the store's id."""
        body = await self._call("POST", "/vector_stores", "creating the vector store",
                                json={"name": name[:256], "metadata": metadata})
        return self._id(body, "creating the vector store")

    async def attach(self, store_id: str, file_id: str) -> None:
        await self._call("POST", f"/vector_stores/{store_id}/files", "adding the file to the vector store",
                         json={"file_id": file_id})

    async def detach(self, store_id: str, file_id: str) -> None:
        await self._call("DELETE", f"/vector_stores/{store_id}/files/{file_id}",
                         "removing the file from the vector store", missing_ok=True)

    async def delete_file(self, file_id: str) -> None:
        await self._call("DELETE", f"/files/{file_id}", "deleting the file", missing_ok=True)

    async def delete_store(self, store_id: str) -> None:
        await self._call("DELETE", f"/vector_stores/{store_id}", "deleting the vector store", missing_ok=True)

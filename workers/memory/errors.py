"""Errors the memory worker answers with. Each carries a fixed wire ``code``.

One root, drawn here::

    InvocationError (workers.sdk)        the SDK sends ``code`` and ``message`` to the caller
    └── MemoryWorkerError                 root of this package's refusals
        ├── InvalidArguments       invalid_arguments       a payload field is missing or bad
        ├── AgentNotFound          agent_not_found         no agent with that id in the caller's realm
        ├── ScopeForbidden         forbidden               the agent's memory_scopes do not allow it
        ├── ContentTooLarge        content_too_large       a text over the configured limit
        ├── DocumentTooLarge       document_too_large      a document over the configured limit
        ├── UnreadableDocument     unreadable_document     not a PDF/DOCX/UTF-8 text, or no text in it
        ├── NotFound               not_found               no such memory, entity or document
        ├── ModelMismatch          embedding_model_mismatch stored vectors come from another model
        ├── EmbeddingFailed        embedding_failed        the embedding backend failed
        ├── Conflict               conflict                a compare-and-set lost too many races
        ├── LlmBadResponse         llm_bad_response        llm::complete answered no usable text
        └── StorageError           storage_error           a state::* call failed

Errors of ``llm::complete`` (session compaction) reach the caller with their own code.
Every refusal is raised before anything is written, or after what was written is undone.
"""

from __future__ import annotations

from typing import ClassVar

from workers.sdk import InvocationError

__all__ = [
    "MemoryWorkerError",
    "InvalidArguments",
    "AgentNotFound",
    "ScopeForbidden",
    "ContentTooLarge",
    "DocumentTooLarge",
    "UnreadableDocument",
    "NotFound",
    "ModelMismatch",
    "EmbeddingFailed",
    "Conflict",
    "LlmBadResponse",
    "StorageError",
]


class MemoryWorkerError(InvocationError):
    """A refusal of the memory worker; the subclass fixes the wire code."""

    CODE: ClassVar[str] = "invocation_failed"

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class InvalidArguments(MemoryWorkerError):
    CODE = "invalid_arguments"


class AgentNotFound(MemoryWorkerError):
    CODE = "agent_not_found"


class ScopeForbidden(MemoryWorkerError):
    CODE = "forbidden"


class ContentTooLarge(MemoryWorkerError):
    CODE = "content_too_large"


class DocumentTooLarge(MemoryWorkerError):
    CODE = "document_too_large"


class UnreadableDocument(MemoryWorkerError):
    CODE = "unreadable_document"


class NotFound(MemoryWorkerError):
    CODE = "not_found"


class ModelMismatch(MemoryWorkerError):
    CODE = "embedding_model_mismatch"


class EmbeddingFailed(MemoryWorkerError):
    CODE = "embedding_failed"


class Conflict(MemoryWorkerError):
    CODE = "conflict"


class LlmBadResponse(MemoryWorkerError):
    CODE = "llm_bad_response"


class StorageError(MemoryWorkerError):
    CODE = "storage_error"

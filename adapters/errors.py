"""The error vocabulary every adapter speaks, whatever SDK sits behind it.

The service layer decides on fallbacks and retries from `kind` alone, so each SDK
exception is mapped onto exactly one of these classes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AdapterError(Exception):
    """Base class of every error an adapter raises.

    `message` is a short user-facing sentence that names the provider and never
    contains an API key; `str(error)` returns it.
    """

    kind: ClassVar[str] = "adapter_error"

    message: str
    provider: str
    status_code: int | None
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind!r}, provider={self.provider!r}, "
            f"status_code={self.status_code!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors break Exception's default pickling, and errors
        # may cross process boundaries (task queues, caches).
        return (_restore_error, (type(self), dict(self.__dict__)))


def _restore_error(cls: type[AdapterError], state: dict[str, Any]) -> AdapterError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class ProviderNotInitialized(AdapterError):
    """The provider lacks something it needs (usually an API key); raised before any request."""

    kind: ClassVar[str] = "provider_not_initialized"

    key_env: str | None

    def __init__(
        self,
        message: str | None = None,
        *,
        provider: str,
        key_env: str | None = None,
    ) -> None:
        if message is None:
            message = f"Provider not initialized: {provider!r} has no API key."
            if key_env:
                message += f" Set {key_env}."
        super().__init__(message, provider=provider)
        self.key_env = key_env


class AuthenticationFailed(AdapterError):
    """The provider rejected the credentials (HTTP 401/403)."""

    kind: ClassVar[str] = "authentication_failed"


class ModelNotFound(AdapterError):
    """The provider does not know the model, or the endpoint does not exist (HTTP 404)."""

    kind: ClassVar[str] = "model_not_found"


class RateLimited(AdapterError):
    """The provider asked us to slow down (HTTP 429); see `retry_after`."""

    kind: ClassVar[str] = "rate_limited"


class TimedOut(AdapterError):
    """No (complete) answer arrived within the configured timeout."""

    kind: ClassVar[str] = "timed_out"


class ProviderError(AdapterError):
    """The provider failed: 5xx, overloaded, unreachable, or an unreadable answer."""

    kind: ClassVar[str] = "provider_error"


class EndpointNotAllowed(ProviderError):
    """The endpoint's address is refused by policy (link-local, metadata, or private when
    those are off); no connection was made. A ProviderError, so calls fall back as usual."""


class CapabilityNotSupported(AdapterError):
    """The provider cannot do what was asked (e.g. Anthropic images); raised before any request."""

    kind: ClassVar[str] = "capability_not_supported"


class InvalidRequest(AdapterError):
    """The provider refused the request as malformed (HTTP 400, 422 and other 4xx)."""

    kind: ClassVar[str] = "invalid_request"


ERROR_CLASSES: tuple[type[AdapterError], ...] = (
    ProviderNotInitialized,
    AuthenticationFailed,
    ModelNotFound,
    RateLimited,
    TimedOut,
    ProviderError,
    CapabilityNotSupported,
    InvalidRequest,
)

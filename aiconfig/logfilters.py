"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging


class OneLineForbidden(logging.Filter):
    """Turn Django's 403 log record into one line: path, user and the reason, no traceback.

    `django.request` logs every PermissionDenied with its traceback. A refused request
    is expected behaviour (a viewer trying an edit), not a bug: one line saying who was
    refused what is easier to read and to alert on than a page of stack frames.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite 403 records in place; every record is kept."""
        if getattr(record, "status_code", None) != 403:
            return True
        request = getattr(record, "request", None)
        # Escaped like Django escapes it: a path with a newline must not forge log lines.
        path = str(getattr(request, "path", "?")).encode("unicode_escape").decode("ascii")
        user = getattr(request, "user", None)
        name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        error = record.exc_info[1] if record.exc_info else None
        reason = str(error) if error is not None and str(error) else "permission denied"
        record.msg = "Forbidden: %s user=%s: %s"
        record.args = (path, name, reason)
        record.exc_info = None
        record.exc_text = None
        return True

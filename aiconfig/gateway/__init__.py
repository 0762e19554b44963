"""The HTTP gateway: call a task by name through the OpenAI or Anthropic wire format.

`/v1/chat/completions`, `/v1/models`, `/v1/images/generations` (OpenAI) and
`/v1/messages` (Anthropic) take an API token (`aiconfig.services.tokens`) and the
task's name as the model, run the call on the async call path (`agenerate_text`,
`astream_text`, `achat`, ...) and answer in the client's own format, errors included,
so the official SDKs work unchanged and raise their usual exceptions.
"""

from __future__ import annotations

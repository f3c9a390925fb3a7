"""Network faults on the links of the local stack, through Toxiproxy.

Links are named `client->dependency` (`runner->nats`, `archive->opensearch`, `gateway->archive`,
…); `harness status --json` lists them. Every fault is healed by `heal` (one link) or
`heal_all` (Toxiproxy's reset: every proxy enabled, every toxic removed).
"""

from __future__ import annotations

from typing import Any, Literal

from harness.errors import HarnessError
from harness.infra.toxiproxy import ToxiproxyClient
from harness.settings import HarnessSettings
from harness.stack.state import StackState, load_state

Stream = Literal["upstream", "downstream"]

# Toxiproxy toxic types and the attribute each takes (milliseconds, KB/s or bytes).
TOXICS: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "timeout": ("timeout",),  # a black hole: data is dropped, the connection closes after it
    "reset_peer": ("timeout",),
    "slow_close": ("delay",),
    "limit_data": ("bytes",),
}


def _proxy_state(settings: HarnessSettings) -> tuple[StackState, str, dict[str, str]]:
    state = load_state(settings)
    record = state.processes.get("toxiproxy")
    if record is None or "toxiproxy" not in state.endpoints:
        raise HarnessError(
            "this stack has no Toxiproxy, so network faults are unavailable "
            "(run `make toxiproxy` and restart the stack)"
        )
    proxies = {link["name"]: link["proxy"] for link in record.extra.get("links", [])}
    return state, state.endpoints["toxiproxy"], proxies


def links(settings: HarnessSettings) -> list[str]:
    return sorted(_proxy_state(settings)[2])


def _proxy(proxies: dict[str, str], link: str) -> str:
    if link not in proxies:
        raise HarnessError(f"no link named {link!r}; links: {', '.join(sorted(proxies))}")
    return proxies[link]


async def add_toxic(
    settings: HarnessSettings,
    link: str,
    kind: str,
    *,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    **attributes: Any,
) -> str:
    """Add a toxic to one link; returns its name (for `remove_toxic`)."""
    if kind not in TOXICS:
        raise HarnessError(f"unknown toxic {kind!r}; known: {', '.join(TOXICS)}")
    unknown = set(attributes) - set(TOXICS[kind])
    if unknown:
        raise HarnessError(f"toxic {kind!r} takes {TOXICS[kind]}, not {sorted(unknown)}")
    _, url, proxies = _proxy_state(settings)
    async with ToxiproxyClient(url) as client:
        return await client.add_toxic(
            _proxy(proxies, link),
            kind,
            attributes,
            stream=stream,
            toxicity=toxicity,
            name=f"{kind}_{stream}",
        )


async def remove_toxic(settings: HarnessSettings, link: str, name: str) -> None:
    _, url, proxies = _proxy_state(settings)
    async with ToxiproxyClient(url) as client:
        await client.remove_toxic(_proxy(proxies, link), name)


async def partition(settings: HarnessSettings, link: str) -> None:
    """Cut a link: new connections are refused and open ones are closed. Heal with `heal`."""
    _, url, proxies = _proxy_state(settings)
    async with ToxiproxyClient(url) as client:
        await client.set_enabled(_proxy(proxies, link), False)


async def heal(settings: HarnessSettings, link: str) -> None:
    """Re-enable one link and remove its toxics."""
    _, url, proxies = _proxy_state(settings)
    proxy = _proxy(proxies, link)
    async with ToxiproxyClient(url) as client:
        await client.set_enabled(proxy, True)
        info = (await client.proxies())[proxy]
        for toxic in info.get("toxics", []):
            await client.remove_toxic(proxy, toxic["name"])


async def heal_all(settings: HarnessSettings) -> None:
    _, url, _ = _proxy_state(settings)
    async with ToxiproxyClient(url) as client:
        await client.reset()

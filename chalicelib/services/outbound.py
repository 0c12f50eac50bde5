"""Where the server may send requests of its own (push services, WhatsApp's media hosts).

URLs that come from outside (a browser's push endpoint, the media URL the Graph API answers)
are checked against a list of hosts before anything is sent, so nobody can point the server
at 169.254.169.254, localhost, a private range, or a host of their own that would receive the
WhatsApp access token. Callers also refuse redirects: a checked URL must not hop elsewhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from chalicelib.config import get_settings

# Characters that make parsers disagree about where the host ends (urlsplit vs urllib3),
# and userinfo (`user:pass@`), which no push service or media URL uses.
_AMBIGUOUS = set("\\@ \t\r\n\x00")

# Web Push services of the browsers the console supports: Chrome/Edge (FCM), Firefox
# (Mozilla autopush), Safari (Apple), legacy Edge (WNS). A leading dot means "any subdomain".
PUSH_SERVICE_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    ".push.services.mozilla.com",
    ".push.apple.com",
    ".notify.windows.com",
)


def parse_host_list(value: str) -> tuple[str, ...]:
    """A comma-separated setting (`host`, `.domain`, `host:port`) as a tuple, lowercased."""
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


def _matches(host: str, port: int, entry: str) -> bool:
    name, _, entry_port = entry.partition(":") if not entry.startswith("[") else (entry, "", "")
    if port != (int(entry_port) if entry_port.isdigit() else 443):
        return False
    if name.startswith("."):
        return host.endswith(name) and len(host) > len(name)
    return host == name


def allowed_https_url(url: str, hosts: tuple[str, ...] | list[str]) -> bool:
    """True for `https://<host in hosts>[:443]/...` without userinfo; anything else is False.
    An entry with a port (`host:8443`) allows that port instead of 443."""
    if not isinstance(url, str) or any(c in _AMBIGUOUS for c in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        return False
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https" or not host:
        return False
    return any(_matches(host, port, entry) for entry in hosts)


def same_origin(url: str, base: str) -> bool:
    """`url` has exactly the scheme, host and port of `base` (the configured Graph API)."""
    if not isinstance(url, str) or any(c in _AMBIGUOUS for c in url):
        return False
    try:
        a, b = urlsplit(url), urlsplit(base)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) and bool(a.hostname)
    except ValueError:
        return False


def push_endpoint_allowed(url: str) -> bool:
    return allowed_https_url(url, PUSH_SERVICE_HOSTS + parse_host_list(get_settings().push_extra_hosts))


def media_url_allowed(url: str, graph_base_url: str) -> bool:
    """Meta's media hosts (MEDIA_DOWNLOAD_HOSTS) over HTTPS, or the Graph API the client talks
    to (which already receives the token; locally the fake Graph API serves media)."""
    hosts = parse_host_list(get_settings().media_download_hosts)
    return allowed_https_url(url, hosts) or same_origin(url, graph_base_url)

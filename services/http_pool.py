"""The connection pools Switchboard calls other services with: one rule for proxies and
certificates, read from the environment once.

Two kinds of call are made for every message, so both go through urllib3's pool directly
rather than through a ``requests.Session`` or ``httpx.Client``, whose per-request layers
cost more CPU than the request itself: the Supabase store's SQL function calls
(``services/store/supabase_rpc.py``) and the Graph API calls (``channels/messenger``).
``pool_for(url)`` gives either its pool, configured as a ``requests.Session`` would be for
that URL, with requests' own rules:

- **Proxy:** ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (lower case too), unless
  ``NO_PROXY`` names the host. An ``http://`` or ``https://`` proxy; credentials in its URL
  are sent as ``Proxy-Authorization``. A SOCKS proxy is refused with ``ValueError`` when the
  pool is made, rather than every request failing later.
- **Certificates:** https is always verified, against ``REQUESTS_CA_BUNDLE`` or
  ``CURL_CA_BUNDLE`` (requests' variables), else ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``
  (OpenSSL's, which httpx reads too), else certifi's bundle. ``ssl_context()`` gives the
  same as an ``ssl.SSLContext``, for the store's httpx client, so that all the store's
  traffic trusts the same authorities.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import certifi
import requests
import urllib3


def _environment(url: str) -> dict[str, Any]:
    with requests.Session() as session:
        return session.merge_environment_settings(url, {}, None, None, None)


def ca_bundle(url: str = "https://example.invalid/") -> str:
    """The file (or directory) of trusted certificates for ``url`` (see above)."""
    verify = _environment(url)["verify"]
    if isinstance(verify, str):  # REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
        return verify
    return os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR") or certifi.where()


def _tls(bundle: str) -> dict[str, Any]:
    return {"cert_reqs": "CERT_REQUIRED",
            ("ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"): bundle}


def ssl_context(url: str = "https://example.invalid/") -> ssl.SSLContext:
    """``ca_bundle(url)`` as an ``SSLContext`` (hostname checked, certificate required)."""
    bundle = ca_bundle(url)
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``, or None (none set, or ``NO_PROXY``)."""
    proxy = requests.utils.select_proxy(url, _environment(url)["proxies"])
    return requests.utils.prepend_scheme_if_needed(proxy, "http") if proxy else None


def pool_for(url: str, *, maxsize: int, what: str, **pool_kw: Any) -> urllib3.PoolManager:
    """A pool for ``url``'s host, keeping up to ``maxsize`` connections open per host;
    ``what`` names the service in errors; ``pool_kw`` (``retries``, ``timeout``…) goes to
    urllib3 as is."""
    options = {"num_pools": 2, "maxsize": maxsize, **_tls(ca_bundle(url)), **pool_kw}
    proxy = proxy_for(url)
    if not proxy:
        return urllib3.PoolManager(**options)
    if not proxy.lower().startswith(("http://", "https://")):
        raise ValueError(f"the proxy for {what} must be http:// or https://, "
                         f"not {proxy.split(':', 1)[0]}:// (from the environment)")
    username, password = requests.utils.get_auth_from_url(proxy)
    headers = (urllib3.make_headers(proxy_basic_auth=f"{username}:{password}")
               if username else None)
    return urllib3.ProxyManager(proxy, proxy_headers=headers, **options)

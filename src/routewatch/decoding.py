"""Undo Content-Encoding on the copy of the body routewatch parses (the app's bytes are untouched).

A transport sees the body as sent on the wire; the client decompresses it later, for the app.
Providers compress JSON bodies (gzip, br), so the parser needs its own decoder: zlib for gzip and
deflate (zlib-wrapped or bare, as the clients accept it), and brotli or zstandard when those
packages are installed. An encoding routewatch cannot undo leaves the body unparsed (counted),
never guessed.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

__all__ = ["Decoder", "make_decoder"]

Decoder = Callable[[bytes], bytes]


def _zlib(wbits: int) -> Decoder:
    decompressor = zlib.decompressobj(wbits)
    return decompressor.decompress


def _deflate() -> Decoder:
    """`deflate` as httpx and httpx2 read it: zlib-wrapped, or, when the first chunk says otherwise,
    a bare DEFLATE stream (what many servers send under that name)."""
    decompress = zlib.decompressobj().decompress
    first = True

    def decode(data: bytes) -> bytes:
        nonlocal decompress, first
        was_first, first = first, False
        try:
            return decompress(data)
        except zlib.error:
            if not was_first:
                raise
            decompress = zlib.decompressobj(-zlib.MAX_WBITS).decompress
            return decompress(data)

    return decode


def _brotli() -> Decoder | None:
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        try:
            import brotlicffi as brotli  # type: ignore[import-not-found,no-redef]
        except ImportError:
            return None
    decompressor = brotli.Decompressor()
    return decompressor.process if hasattr(decompressor, "process") else decompressor.decompress  # type: ignore[no-any-return]


def _zstd() -> Decoder | None:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return None
    return zstandard.ZstdDecompressor().decompressobj().decompress  # type: ignore[no-any-return]


def make_decoder(content_encoding: str) -> Decoder | None:
    """A chunk-by-chunk decoder for a Content-Encoding header value; identity returns None.

    Raises `ValueError` for an encoding that cannot be undone here.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    decoders: list[Decoder] = []
    for coding in reversed(codings):  # applied in order, so undone in reverse
        if coding in ("gzip", "x-gzip"):
            decoders.append(_zlib(zlib.MAX_WBITS | 16))
        elif coding == "deflate":
            decoders.append(_deflate())
        else:
            decoder = _brotli() if coding == "br" else _zstd() if coding == "zstd" else None
            if decoder is None:
                raise ValueError(f"cannot decode Content-Encoding {coding!r}")
            decoders.append(decoder)
    if len(decoders) == 1:
        return decoders[0]

    def chain(data: bytes) -> bytes:
        for decoder in decoders:
            data = decoder(data)
        return data

    return chain

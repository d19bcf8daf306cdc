"""Local media: a path under ``content/`` checked before any byte of it is published.

Content is untrusted. A medium must resolve (symlinks followed) to a regular file inside
the content folder but outside ``news/`` and ``profiles/`` (so no Markdown file, a draft's
or an embargoed item's included, can be published as a picture); its bytes must be an
image of a supported type, whatever its name says; and it must be below a size limit.
SVG is XML that a browser runs scripts from when it is opened from our origin, so an SVG
is accepted only if it holds nothing active: no script, event handler, foreignObject,
reference outside the file, or entity declaration.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from lxml import etree

from .model import excerpt

__all__ = ["IMAGE_TYPES", "MediaError", "Medium", "Unreadable", "can_rasterize", "dimensions",
           "email_rendition_path", "load_medium", "rasterize_svg", "read_bounded", "read_medium",
           "rendition_size", "too_large"]

# media type -> the file name extensions it may have (the first is the usual one)
IMAGE_TYPES = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "image/avif": (".avif",),
    "image/svg+xml": (".svg",),
}
_BY_EXTENSION = {ext: media_type for media_type, exts in IMAGE_TYPES.items() for ext in exts}
_NAMES = "PNG, JPEG, GIF, WebP, AVIF or SVG"
_RESERVED_FOLDERS = ("news", "profiles")   # content files, never media


class MediaError(ValueError):
    """A medium that may not be published; the message says why, for ``field: message``."""


@dataclass(frozen=True)
class Medium:
    """A checked local image: where its bytes are, what they are and their digest."""

    path: Path           # the resolved file, inside the content folder
    media_type: str
    extension: str       # the source's own extension, lower case (it matches media_type)
    sha256: str
    length: int


def load_medium(content_dir: Path, src: str, max_bytes: int) -> Medium:
    """Resolve ``src`` (relative to ``content_dir``, which is resolved), read and check it."""
    path = _resolve_inside(content_dir, src)
    try:
        data = read_bounded(path, max_bytes, "limits.media_file_bytes")
    except Unreadable as exc:
        raise MediaError(f"content/{src}: {exc}") from None
    media_type = _media_type(data, PurePosixPath(src).suffix.lower(), src)
    if media_type == "image/svg+xml":
        data = safe_svg(data, src)
    return Medium(path=path, media_type=media_type, extension=PurePosixPath(src).suffix.lower(),
                  sha256=hashlib.sha256(data).hexdigest(), length=len(data))


def read_medium(medium: Medium, max_bytes: int) -> bytes:
    """The bytes to publish, as they were checked (a file changed since is an error)."""
    try:
        data = read_bounded(medium.path, max_bytes)
        if medium.media_type == "image/svg+xml":
            data = safe_svg(data, medium.path.name)
    except (Unreadable, MediaError) as exc:
        raise MediaError(f"{medium.path}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != medium.sha256:
        raise MediaError(f"{medium.path} changed during the build; build again")
    return data


class Unreadable(ValueError):
    """A file that could not be read whole: the message says why, without its name."""


def read_bounded(path: str | Path, max_bytes: int, limit_name: str = "") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``. The size is checked on the
    open file and the read stops past the limit, so a file that grows meanwhile, a FIFO
    or a device never holds the build."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("not a regular file")
        # sized by the file, not the limit: a read of the limit would allocate it
        data = _read_up_to(fd, min(info.st_size, max_bytes) + 1)
        if info.st_size < len(data) <= max_bytes:   # it grew since: read on, to the limit
            data += _read_up_to(fd, max_bytes + 1 - len(data))
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise Unreadable(too_large(max(info.st_size, len(data)), max_bytes, limit_name))
    return data


def _read_up_to(fd: int, size: int) -> bytes:
    """At most ``size`` bytes, fewer only at the end of the file."""
    chunks = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def too_large(size: int, max_bytes: int, limit_name: str = "") -> str:
    where = f" ({limit_name} in newsroom.toml)" if limit_name else ""
    return f"{_size(size)}, above the limit of {_size(max_bytes)}{where}"


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _resolve_inside(content_dir: Path, src: str) -> Path:
    """The real file ``src`` names, refused if it lies outside the content folder (through
    a symlink) or in a folder of content files."""
    try:
        real = Path(os.path.realpath(content_dir / src))
        exists = real.exists()
    except (OSError, ValueError) as exc:   # a name too long, a NUL byte
        raise MediaError(f"content/{src}: cannot be used: {getattr(exc, 'strerror', None) or exc}") from None
    if not real.is_relative_to(content_dir):
        raise MediaError(f"content/{src} leads outside the content folder (a symbolic link); "
                         "media must be files inside it")
    relative = real.relative_to(content_dir)
    if relative.parts and relative.parts[0] in _RESERVED_FOLDERS:
        raise MediaError(f"content/{src} is under content/{relative.parts[0]}/, where content files "
                         "live; keep images elsewhere, e.g. in content/media/")
    if not exists:
        raise MediaError(f"no such file: content/{src}")
    return real


def _media_type(data: bytes, extension: str, src: str) -> str:
    """The image type of ``data``, which must agree with the name's extension."""
    claimed = _BY_EXTENSION.get(extension)
    if claimed is None:
        raise MediaError(f"content/{src} is not an image file: use {_NAMES}")
    actual = _sniff(data)
    if actual is None:
        if claimed == "image/svg+xml":
            return claimed   # checked, and rewritten, by safe_svg
        raise MediaError(f"content/{src} is not a {_label(claimed)} image "
                         f"(its bytes are not one of {_NAMES})")
    if actual != claimed:
        raise MediaError(f"content/{src} is a {_label(actual)} image but its name ends in {extension}: "
                         f"rename it to {IMAGE_TYPES[actual][0]}")
    return actual


def _label(media_type: str) -> str:
    return {"image/svg+xml": "SVG", "image/jpeg": "JPEG", "image/webp": "WebP",
            "image/avif": "AVIF"}.get(media_type, media_type.removeprefix("image/").upper())


def _sniff(data: bytes) -> str | None:
    """The raster type the bytes start with (magic numbers), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and _is_avif(data):
        return "image/avif"
    return None


def _is_avif(data: bytes) -> bool:
    """An ISO BMFF file whose ftyp box names an AVIF brand (major or compatible)."""
    size = int.from_bytes(data[:4], "big")
    box = data[8:min(max(size, 16), 4096)]
    brands = {box[i:i + 4] for i in range(0, len(box) - 3, 4)}   # major, minor version, compatible
    return bool(brands & {b"avif", b"avis"})


# -- SVG ---------------------------------------------------------------------------------

_SVG = "http://www.w3.org/2000/svg"
_XLINK = "http://www.w3.org/1999/xlink"
_XML = "http://www.w3.org/XML/1998/namespace"
# Elements of these namespaces are editors' metadata, inert in every browser.
_METADATA_NAMESPACES = {
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "http://purl.org/dc/elements/1.1/",
    "http://purl.org/dc/terms/",
    "http://creativecommons.org/ns#",
    "http://web.resource.org/cc/",
    "http://www.inkscape.org/namespaces/inkscape",
    "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd",
    "http://www.bohemiancoding.com/sketch/ns",
}
_ACTIVE_ELEMENTS = {"script", "foreignObject", "handler", "listener", "iframe", "embed", "object"}
_ANIMATIONS = {"set", "animate", "animateTransform", "animateMotion", "animateColor"}
_MAX_SVG_TAGS = 200_000   # a flat 10 MB of <g/> would take seconds and most of a GB to check
_URL_FUNCTION = re.compile(r"url\(\s*(['\"]?)\s*([^)'\"]*)", re.I)
_LOCAL_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,", re.I)
_SCRIPT_URL = re.compile(r"(?:java|vb)script:", re.I)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f]+")   # what browsers skip inside a URL scheme
_CSS_FETCHING = ("@import", "image-set(", "src(", "expression(", "-moz-binding", "behavior:")


def _svg_parser() -> etree.XMLParser:
    # no entities expanded, no DTD or network fetched, libxml2's depth and size limits kept
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, recover=False, remove_blank_text=False)


def safe_svg(data: bytes, src: str) -> bytes:
    """The SVG to publish: refused if anything in it could run script or fetch a file when
    it is opened from our origin; otherwise written out again from the tree that was
    checked (UTF-8, without the DOCTYPE and anything else outside the root element), so
    nothing a browser reads differently from lxml (a DTD's attribute defaults, an odd
    encoding) reaches the reader."""
    if data.count(b"<") > _MAX_SVG_TAGS:
        raise MediaError(f"content/{src}: an SVG of more than {_MAX_SVG_TAGS:,} elements is refused")
    try:
        root = etree.fromstring(data, _svg_parser())
    except etree.XMLSyntaxError as exc:
        raise MediaError(f"content/{src} is not a well-formed SVG image: {exc.msg}") from None
    if root.tag != f"{{{_SVG}}}svg":
        raise MediaError(f"content/{src} is not an SVG image (its root element is not <svg>)")
    prolog_and_epilog = [*root.itersiblings(preceding=True), *root.itersiblings()]
    for node in [*prolog_and_epilog, *root.iter()]:
        reason = _unsafe(node)
        if reason:
            line = f" (line {node.sourceline})" if node.sourceline else ""
            raise MediaError(f"content/{src}{line}: {reason}; such SVG could run script on the "
                             "site or load files from elsewhere, and is refused")
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def _unsafe(node) -> str | None:
    if isinstance(node, etree._ProcessingInstruction):
        return "a processing instruction"
    if isinstance(node, etree._Entity):
        return "an entity reference"
    if not isinstance(node.tag, str):
        return None   # a comment
    qname = etree.QName(node)
    for name, value in node.attrib.items():   # every element's, metadata and <style> too
        reason = _unsafe_attribute(qname.localname, etree.QName(name), value)
        if reason:
            return reason
    if qname.namespace != _SVG:
        if qname.namespace in _METADATA_NAMESPACES:
            return None
        return f"an element <{excerpt(qname.localname, 30, quote=False)}> that is not SVG"
    if qname.localname in _ACTIVE_ELEMENTS:
        return f"a <{qname.localname}> element"
    if qname.localname in _ANIMATIONS:
        target = _INVISIBLE.sub("", node.get("attributeName", "")).lower()
        if target.endswith("href") or target.startswith("on") or target in ("style", "base"):
            return f"<{qname.localname}> that changes {excerpt(target, 30, quote=False)}"
    if qname.localname == "style":
        if len(node):
            return "a <style> element with child nodes"
        return _unsafe_css(node.text or "")
    return None


def _unsafe_attribute(element: str, name: etree.QName, value: str) -> str | None:
    local = name.localname
    where = f"{excerpt(local, 30, quote=False)}= on <{excerpt(element, 30, quote=False)}>"
    if local.lower().startswith("on"):
        return f"an event handler {where}"
    if name.namespace == _XML and local == "base":
        return f"xml:base on <{excerpt(element, 30, quote=False)}>"
    if _SCRIPT_URL.search(_INVISIBLE.sub("", value)):
        return f"a script URL in {where}"
    if local == "href" and name.namespace in (None, _XLINK):
        target = value.strip()
        if target.startswith("#") or (element == "image" and _LOCAL_DATA_IMAGE.match(target)):
            return None
        return f"a reference to {excerpt(target)} in {where}"
    if local == "style" or "(" in value:   # presentation attributes are CSS too: fill="url(…)"
        return _unsafe_css(value)
    return None


def _unsafe_css(css: str) -> str | None:
    if "\\" in css:
        return "an escape (\\) in CSS"   # u\72l( would hide url( from the checks below
    lowered = css.lower()
    for construct in _CSS_FETCHING:
        if construct in lowered:
            return f"{construct.rstrip('(:')} in CSS"
    for match in _URL_FUNCTION.finditer(css):
        target = match.group(2).strip()
        if not target.startswith("#") and not _LOCAL_DATA_IMAGE.match(target):
            return f"a reference to {excerpt(target)} in url()"
    return None


# -- dimensions ---------------------------------------------------------------------------

_SVG_LENGTH = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(px)?\s*")


def dimensions(data: bytes, media_type: str) -> tuple[int, int] | None:
    """The width and height of a checked image in CSS pixels, when its header says
    (PNG, GIF, JPEG, SVG); None otherwise. Emails need them: Outlook sizes images by
    their attributes, and a phone reserves their space before they load."""
    try:
        if media_type == "image/png" and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if media_type == "image/gif":
            return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        if media_type == "image/jpeg":
            return _jpeg_dimensions(data)
        if media_type == "image/svg+xml":
            return _svg_dimensions(data)
    except (ValueError, IndexError, etree.XMLSyntaxError):
        return None
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:   # markers without a length
            at += 2
            continue
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):   # a start of frame
            height = int.from_bytes(data[at + 5:at + 7], "big")
            width = int.from_bytes(data[at + 7:at + 9], "big")
            return (width, height) if width and height else None
        at += 2 + length
    return None


def _svg_dimensions(data: bytes) -> tuple[int, int] | None:
    root = etree.fromstring(data, _svg_parser())
    width, height = (_SVG_LENGTH.fullmatch(root.get(name, "")) for name in ("width", "height"))
    if width and height:
        return round(float(width.group(1))), round(float(height.group(1)))
    box = (root.get("viewBox") or "").replace(",", " ").split()
    if len(box) == 4 and float(box[2]) > 0 and float(box[3]) > 0:
        return round(float(box[2])), round(float(box[3]))
    return None


# -- email renditions ---------------------------------------------------------------------------

EMAIL_IMAGE_WIDTH = 1120   # twice the 560 px an email shows: sharp on high-density screens


def email_rendition_path(output_path: str) -> str:
    """Where the PNG rendition of a published SVG goes (``media/email/<name>.png``): Gmail
    and Outlook show no SVG, so emails link this instead."""
    name = PurePosixPath(output_path)
    return f"media/email/{name.stem}.png"


def rendition_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    """Width and height of the PNG rendition of an SVG whose own size is ``size``; None
    for an SVG without a size (no width and height, no viewBox), which cairosvg cannot draw."""
    if not size or size[0] <= 0 or size[1] <= 0:
        return None
    return EMAIL_IMAGE_WIDTH, max(1, round(EMAIL_IMAGE_WIDTH * size[1] / size[0]))


@lru_cache(maxsize=1)
def can_rasterize() -> bool:
    """Is cairosvg (and the Cairo library it loads) installed? Without it emails link the
    SVG itself, which most web and phone mail apps show and Gmail and Outlook do not."""
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def rasterize_svg(medium: Medium, max_bytes: int) -> bytes:
    """The PNG rendition of a checked SVG, drawn from the re-serialized safe tree (no
    script, no reference outside the file; cairosvg's safe mode refuses external files
    and entities besides)."""
    import cairosvg

    data = read_medium(medium, max_bytes)
    return cairosvg.svg2png(bytestring=data, output_width=EMAIL_IMAGE_WIDTH, unsafe=False)

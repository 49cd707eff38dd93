"""A writer for [MS-OVBA] ``vbaProject.bin`` files: VBA source in, compound file out.

What Excel needs when there is no compiled cache
================================================

A VBA project stores each module twice: as compressed source text and as compiled,
version-specific caches (p-code in the module streams, the ``_VBA_PROJECT``
performance cache, ``__SRP_*`` streams). We cannot produce p-code without Office, so we
write source only and rely on the host to compile it. The reasons this is expected to
work, and the details that matter:

1. The specification makes the cache-free form the interoperable one.
   [MS-OVBA] 2.3.4.1 "_VBA_PROJECT Stream": ``Version`` "MUST be ignored on read. MUST
   be 0xFFFF on write"; ``PerformanceCache`` "MUST be ignored on read. MUST NOT be
   present on write" (https://learn.microsoft.com/en-us/openspecs/office_file_formats/
   ms-ovba/ef7087ac-3974-4452-aab2-7dba2214d239; example 3.1.1 shows the 7 bytes
   ``CC 61 FF FF 00 01 00``). [MS-OVBA] 1.6 "Versioning and Localization": caches are
   used only when the stored version equals the running Office's; "To be interoperable,
   this version number MUST be set to 0xFFFF so that performance caches are ignored"
   (.../ms-ovba/4d20e95c-0c17-47d6-84b9-8da95d8ea129). The module record's
   MODULEOFFSET (2.3.4.2.3.2.5) gives where the source starts in the module stream;
   we write 0, so a module stream is nothing but its CompressedSourceCode (2.3.4.3).
2. Office recompiles from source whenever it cannot use the p-code: "Only if the
   document is opened under a version of Office that uses a different VBA version from
   the one that has been used to create the document, the stored compressed source code
   is re-compiled into p-code" (bontchev/pcodedmp README). Beakerboy/vbaProject-Compiler
   (README) builds on the same behaviour: "If the Optimised PCode part is missing (or
   incompatable ...) then the Compressed Source is used".
3. Mature writers emit exactly this and Excel opens their files: LibreOffice
   (oox/source/ole/vbaexport.cxx: ``exportVBAProjectStream`` writes 0x61CC, 0xFFFF,
   0x00, 0x0000; ``writeMODULEOFFSET`` writes 0; ``exportModuleStream`` compresses the
   source alone) and EPPlus (EPPlus/VBA/ExcelVBAProject.cs: ``CreateVBAProjectStream``
   writes 0x61CC/0xFFFF; ``WriteModuleRecord`` "Module Stream Offset (No
   PerformanceCache)"; ``Create()`` makes a project from nothing, with no references).
   Most to the point: the ``quickstart_standalone.xlsm`` inside the xlwings 0.37.8 wheel
   (the file ``xlwings quickstart --standalone`` copies for every user; its xlwings
   module is rewritten on Linux CI by Aspose.Cells, scripts/build_excel_files.py) has a
   7-byte ``_VBA_PROJECT`` = ``CC 61 FF FF 00 01 00`` and its ``xlwings`` module stream
   has MODULEOFFSET 0, i.e. source only (checked here with olefile).
4. Details we follow because tools found Excel strict about them:
   - Never emit a raw (uncompressed) chunk, although 2.4.1.3.7 allows it: visi-core's
     ``ovba.rs`` reports that Excel silently dropped modules whose source used raw
     chunks, and that Excel itself never writes them. ``compress`` raises instead.
   - Class modules in stream form carry ``Attribute VB_Base =
     "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"`` and no ``VERSION 1.0 CLASS``/``BEGIN``
     preamble; otherwise Excel fails to compile them (pyOpenVBA pull request #2,
     "verified against live Excel"). This is also exactly the ``Dictionary`` stream that
     Excel wrote into quickstart_standalone.xlsm, attribute lines included.
   - Document modules: Excel binds ``ThisWorkbook`` and one module per worksheet through
     the code names in workbook.xml/sheetN.xml; LibreOffice and EPPlus write them with
     ``VB_Base`` 0{00020819-0000-0000-C000-000000000046} (workbook) and
     0{00020820-0000-0000-C000-000000000046} (worksheet) and ``VB_PredeclaredId =
     True``; ``PROJECT`` lists them as ``Document=Name/&H00000000``.
   - Source is CRLF-terminated text in the project code page (2.3.4.3;
     LibreOffice converts ``\\n`` to ``\\r\\n``). We accept ASCII only.
   - No references: the VBA and Excel libraries are built into the host and never
     stored in ``dir``; the xlwings module and Dictionary late-bind with CreateObject.
     No reference means no "Can't find project or library" on a machine (or a Mac) where
     a referenced type library sits elsewhere. EPPlus ``Create()`` writes none either.
5. Doubts, not settled without Excel: visi-core says Excel parsed a module's
   PerformanceCache and dropped modules whose prefix did not fit; that concerns
   non-empty prefixes (ours is empty, MODULEOFFSET 0), and its notes do not say which
   ``_VBA_PROJECT`` version the files carried. pyOpenVBA's guide advises zeroing the cache instead of writing
   0xFFFF when editing an Excel-saved project, which keeps other caches; we have none.
   A manual open-in-Excel check (Windows and Mac) stays on the release checklist.

Determinism: fixed project GUID, fixed "encryption" seed for the CMG/DPB/GC fields,
zero timestamps and CLSIDs in the compound file, entries sorted as [MS-CFB] orders
siblings, modules in the order given. Same modules in, same bytes out.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CLASS_VB_BASE",
    "WORKBOOK_VB_BASE",
    "WORKSHEET_VB_BASE",
    "VbaModule",
    "build_vba_project",
    "class_module_from_cls",
    "compress",
    "decompress",
    "document_module",
    "standard_module",
    "write_compound_file",
]

ModuleKind = Literal["module", "class", "document"]

# [MS-OVBA] VB_Base values: worksheet/workbook host classes and the VBA class module.
WORKBOOK_VB_BASE = "0{00020819-0000-0000-C000-000000000046}"
WORKSHEET_VB_BASE = "0{00020820-0000-0000-C000-000000000046}"
CLASS_VB_BASE = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"

# A fixed project identifier keeps the output reproducible ([MS-OVBA] 2.3.1.2 ProjectId
# only has to be a GUID). The host-extender line is the one every Excel project carries.
PROJECT_ID = "{6A4E7A11-0A11-4B1D-9E5A-A11B0A7C0DE5}"
HOST_EXTENDER = "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000"
CODE_PAGE = 1252
_ENCODING = "cp1252"

_NEWLINE = "\r\n"
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,30}\Z")


# --------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VbaModule:
    """One module as stored in its stream: attribute lines, then code, CRLF-terminated."""

    name: str
    kind: ModuleKind
    source: str

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.name):
            raise ValueError(f"not a VBA module name: {self.name!r}")
        if self.kind not in ("module", "class", "document"):
            raise ValueError(f"unknown module kind: {self.kind!r}")
        if not self.source.isascii():
            raise ValueError(f"module {self.name} is not ASCII-only")
        first = self.source.split("\r\n", 1)[0]
        if first != f'Attribute VB_Name = "{self.name}"':
            raise ValueError(f"module {self.name} must start with its VB_Name attribute")


def _crlf(text: str) -> str:
    """Normalise line ends to CRLF and end the text with one."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "".join(line + _NEWLINE for line in lines)


def standard_module(name: str, source: str) -> VbaModule:
    """A standard module from ``.bas`` text (which already starts with ``VB_Name``)."""
    text = _crlf(source)
    if not text.startswith("Attribute VB_Name"):
        text = f'Attribute VB_Name = "{name}"{_NEWLINE}' + text
    return VbaModule(name, "module", text)


def class_module_from_cls(source: str) -> VbaModule:
    """A class module in stream form from an exported ``.cls`` file.

    Drops the ``VERSION 1.0 CLASS`` / ``BEGIN`` ... ``END`` preamble, inserts
    ``VB_Base`` after ``VB_Name`` and ``VB_TemplateDerived``/``VB_Customizable`` after
    ``VB_Exposed``: the order Excel itself writes (see the module docstring).
    """
    lines = _crlf(source).split(_NEWLINE)[:-1]
    if lines and lines[0].startswith("VERSION "):
        end = lines.index("END")
        lines = lines[end + 1 :]
    header: list[str] = []
    while lines and lines[0].startswith("Attribute VB_"):
        header.append(lines.pop(0))
    match = re.fullmatch(r'Attribute VB_Name = "([^"]+)"', header[0]) if header else None
    if match is None:
        raise ValueError("class module without an Attribute VB_Name line")
    name = match.group(1)
    out = [header[0], f'Attribute VB_Base = "{CLASS_VB_BASE}"']
    rest = [h for h in header[1:] if not h.startswith("Attribute VB_Base ")]
    keys = [h.split(" = ", 1)[0] for h in rest]
    for line in rest:
        out.append(line)
        if line.startswith("Attribute VB_Exposed "):
            if "Attribute VB_TemplateDerived" not in keys:
                out.append("Attribute VB_TemplateDerived = False")
            if "Attribute VB_Customizable" not in keys:
                out.append("Attribute VB_Customizable = False")
    return VbaModule(name, "class", "".join(line + _NEWLINE for line in out + lines))


def document_module(name: str, *, workbook: bool) -> VbaModule:
    """An empty document module for ``ThisWorkbook`` (``workbook=True``) or a worksheet."""
    base = WORKBOOK_VB_BASE if workbook else WORKSHEET_VB_BASE
    lines = [
        f'Attribute VB_Name = "{name}"',
        f'Attribute VB_Base = "{base}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    return VbaModule(name, "document", "".join(line + _NEWLINE for line in lines))


# --------------------------------------------------------------------------------------
# [MS-OVBA] 2.4.1 compression
# --------------------------------------------------------------------------------------

_CHUNK = 4096


def _copy_token_help(difference: int) -> tuple[int, int]:
    """(bit count of the offset, maximum length) at ``difference`` bytes into a chunk."""
    bit_count = max((difference - 1).bit_length(), 4)
    length_mask = 0xFFFF >> bit_count
    return bit_count, length_mask + 3


def _compress_chunk(chunk: bytes) -> bytes:
    size = len(chunk)
    body = bytearray()
    heads: dict[bytes, list[int]] = {}
    pos = 0
    while pos < size:
        flag_at = len(body)
        body.append(0)
        flags = 0
        for bit in range(8):
            if pos >= size:
                break
            best_len, best_at = 0, -1
            if pos + 3 <= size:
                bit_count, max_len = _copy_token_help(pos)
                limit = min(max_len, size - pos)
                for cand in reversed(heads.get(chunk[pos : pos + 3], ())):
                    length = 3
                    while length < limit and chunk[cand + length] == chunk[pos + length]:
                        length += 1
                    if length > best_len:
                        best_len, best_at = length, cand
                        if length == limit:
                            break
            if best_len >= 3:
                token = ((pos - best_at - 1) << (16 - bit_count)) | (best_len - 3)
                body += struct.pack("<H", token)
                flags |= 1 << bit
                step = best_len
            else:
                body.append(chunk[pos])
                step = 1
            for p in range(pos, pos + step):
                if p + 3 <= size:
                    heads.setdefault(chunk[p : p + 3], []).append(p)
            pos += step
        body[flag_at] = flags
    if len(body) > _CHUNK:
        # A raw chunk would be legal but Excel is reported to drop such modules.
        raise ValueError("data does not compress; refusing to write a raw VBA chunk")
    header = 0x8000 | 0x3000 | (len(body) + 2 - 3)
    return struct.pack("<H", header) + bytes(body)


def compress(data: bytes) -> bytes:
    """[MS-OVBA] 2.4.1.3.6: a CompressedContainer holding ``data``."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), _CHUNK):
        out += _compress_chunk(data[start : start + _CHUNK])
    return bytes(out)


def decompress(container: bytes) -> bytes:
    """[MS-OVBA] 2.4.1.3.1: the inverse of :func:`compress` (used by tests and checks)."""
    if not container or container[0] != 0x01:
        raise ValueError("not a VBA compressed container")
    out = bytearray()
    pos = 1
    while pos < len(container):
        (header,) = struct.unpack_from("<H", container, pos)
        if (header >> 12) & 0x7 != 0b011:
            raise ValueError(f"bad chunk signature at {pos}")
        end = min(len(container), pos + (header & 0x0FFF) + 3)
        pos += 2
        start = len(out)
        if not header & 0x8000:
            out += container[pos : pos + _CHUNK]
            pos += _CHUNK
            continue
        while pos < end:
            flags = container[pos]
            pos += 1
            for bit in range(8):
                if pos >= end:
                    break
                if flags & (1 << bit):
                    (token,) = struct.unpack_from("<H", container, pos)
                    pos += 2
                    bit_count, _ = _copy_token_help(len(out) - start)
                    length = (token & (0xFFFF >> bit_count)) + 3
                    offset = (token >> (16 - bit_count)) + 1
                    source = len(out) - offset
                    if source < start:
                        raise ValueError("copy token points before its chunk")
                    for i in range(length):
                        out.append(out[source + i])
                else:
                    out.append(container[pos])
                    pos += 1
    return bytes(out)


# --------------------------------------------------------------------------------------
# PROJECT, PROJECTwm, dir, _VBA_PROJECT
# --------------------------------------------------------------------------------------


def _encrypt(data: bytes, seed: int) -> str:
    """[MS-OVBA] 2.4.3.2 Data Encryption, with a fixed ``seed`` for reproducible output."""
    version = 2
    proj_key = sum(PROJECT_ID.encode("ascii")) & 0xFF
    out = [seed, seed ^ version, seed ^ proj_key]
    unencrypted_1, encrypted_1, encrypted_2 = proj_key, out[2], out[1]

    def push(byte: int) -> None:
        nonlocal unencrypted_1, encrypted_1, encrypted_2
        enc = byte ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        out.append(enc)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, enc, byte

    for _ in range((seed & 6) // 2):
        push(0)
    for byte in struct.pack("<I", len(data)) + data:
        push(byte)
    return "".join(f"{b:02X}" for b in out)


_UNPROTECTED = bytes(4)  # ProjectProtectionState: no protection flags
_NO_PASSWORD = bytes(1)  # ProjectPassword: 0x00, no password
_VISIBLE = b"\xff"  # ProjectVisibilityState: 0xFF, visible


def _project_stream(modules: Sequence[VbaModule], project_name: str) -> bytes:
    """[MS-OVBA] 2.3.1 PROJECT stream (VBAPROJECTText)."""
    lines = [f'ID="{PROJECT_ID}"']
    for module in modules:
        if module.kind == "document":
            lines.append(f"Document={module.name}/&H00000000")
        elif module.kind == "class":
            lines.append(f"Class={module.name}")
        else:
            lines.append(f"Module={module.name}")
    lines += [
        f'Name="{project_name}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        # Not protected, no password, visible (2.3.1.15-17); fixed seeds.
        f'CMG="{_encrypt(_UNPROTECTED, 0x41)}"',
        f'DPB="{_encrypt(_NO_PASSWORD, 0x43)}"',
        f'GC="{_encrypt(_VISIBLE, 0x45)}"',
        "",
        "[Host Extender Info]",
        HOST_EXTENDER,
        "",
        "[Workspace]",
    ]
    lines += [f"{module.name}=0, 0, 0, 0, C" for module in modules]
    return "".join(line + _NEWLINE for line in lines).encode(_ENCODING)


def _projectwm_stream(modules: Sequence[VbaModule]) -> bytes:
    """[MS-OVBA] 2.3.3 PROJECTwm: MBCS and UTF-16 module names; not compressed."""
    out = bytearray()
    for module in modules:
        out += module.name.encode(_ENCODING) + b"\x00"
        out += module.name.encode("utf-16-le") + b"\x00\x00"
    return bytes(out + b"\x00\x00")


def _record(rid: int, payload: bytes) -> bytes:
    return struct.pack("<HI", rid, len(payload)) + payload


def _text_record(rid: int, unicode_rid: int, text: str) -> bytes:
    """A record whose MBCS text is followed by a Reserved id and the UTF-16 text."""
    return _record(rid, text.encode(_ENCODING)) + _record(unicode_rid, text.encode("utf-16-le"))


def _dir_stream(modules: Sequence[VbaModule], project_name: str) -> bytes:
    """[MS-OVBA] 2.3.4.2 dir stream, before compression."""
    out = bytearray()
    # PROJECTINFORMATION (2.3.4.2.1)
    out += _record(0x0001, struct.pack("<I", 1))  # SYSKIND: 32-bit Windows
    out += _record(0x0002, struct.pack("<I", 0x0409))  # LCID: MUST be 0x409
    out += _record(0x0014, struct.pack("<I", 0x0409))  # LCIDINVOKE: MUST be 0x409
    out += _record(0x0003, struct.pack("<H", CODE_PAGE))
    out += _record(0x0004, project_name.encode(_ENCODING))
    out += _text_record(0x0005, 0x0040, "")  # DOCSTRING
    out += _text_record(0x0006, 0x003D, "")  # HELPFILEPATH (twice the MBCS path)
    out += _record(0x0007, struct.pack("<I", 0))  # HELPCONTEXT
    out += _record(0x0008, struct.pack("<I", 0))  # LIBFLAGS
    # PROJECTVERSION: Reserved is 4 although 6 bytes follow (2.3.4.2.1.11); the version
    # numbers are arbitrary, these are the ones LibreOffice writes (vbaexport.cxx).
    out += struct.pack("<HIIH", 0x0009, 4, 1467127224, 5)
    out += _text_record(0x000C, 0x003C, "")  # CONSTANTS
    # PROJECTREFERENCES (2.3.4.2.2): none, see the module docstring.
    # PROJECTMODULES (2.3.4.2.3)
    out += _record(0x000F, struct.pack("<H", len(modules)))
    out += _record(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for module in modules:
        out += _record(0x0019, module.name.encode(_ENCODING))
        out += _record(0x0047, module.name.encode("utf-16-le"))
        out += _text_record(0x001A, 0x0032, module.name)  # stream name = module name
        out += _text_record(0x001C, 0x0048, "")  # DOCSTRING
        out += _record(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source at 0
        out += _record(0x001E, struct.pack("<I", 0))  # HELPCONTEXT
        out += _record(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        out += _record(0x0021 if module.kind == "module" else 0x0022, b"")
        out += _record(0x002B, b"")  # module terminator
    out += _record(0x0010, b"")  # dir terminator
    return bytes(out)


# _VBA_PROJECT (2.3.4.1): Reserved1 0x61CC, Version 0xFFFF, Reserved2 0x00, Reserved3
# (undefined) 0x0001 as in the spec's example 3.1.1, and no PerformanceCache.
VBA_PROJECT_STREAM = bytes.fromhex("CC61FFFF000100")


def build_vba_project(modules: Iterable[VbaModule], *, project_name: str = "VBAProject") -> bytes:
    """The bytes of a ``vbaProject.bin`` holding ``modules``, in the order given."""
    modules = list(modules)
    seen: set[str] = set()
    for module in modules:
        if module.name.upper() in seen:
            raise ValueError(f"duplicate module name {module.name}")
        seen.add(module.name.upper())
    if not _IDENTIFIER.match(project_name):
        raise ValueError(f"not a VBA project name: {project_name!r}")
    streams = {
        "PROJECT": _project_stream(modules, project_name),
        "PROJECTwm": _projectwm_stream(modules),
        "VBA/_VBA_PROJECT": VBA_PROJECT_STREAM,
        "VBA/dir": compress(_dir_stream(modules, project_name)),
    }
    for module in modules:
        streams[f"VBA/{module.name}"] = compress(module.source.encode(_ENCODING))
    return write_compound_file(streams)


# --------------------------------------------------------------------------------------
# [MS-CFB] version 3 writer
# --------------------------------------------------------------------------------------

_SECTOR = 512
_MINI_SECTOR = 64
_MINI_CUTOFF = 4096
_FREESECT = 0xFFFFFFFF
_ENDOFCHAIN = 0xFFFFFFFE
_FATSECT = 0xFFFFFFFD
_NOSTREAM = 0xFFFFFFFF


def _cfb_key(name: str) -> tuple[int, str]:
    """[MS-CFB] 2.6.4 sibling order: shorter names first, then upper-cased code points."""
    return len(name), name.upper()


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[_Entry] | None = None
    left: int = _NOSTREAM
    right: int = _NOSTREAM
    child: int = _NOSTREAM
    start: int = _ENDOFCHAIN
    index: int = 0
    color: int = 1  # 0 red, 1 black
    depth: int = 0


def _balanced(entries: list[_Entry], depth: int = 0) -> int:
    """Link sorted siblings as a balanced binary search tree; return the root index.

    Median splitting puts every missing child at the two deepest levels. Colouring the
    deepest level red when it is not full, and everything else black, gives a proper
    red-black tree: [MS-CFB] 2.6.4 asks for a black root, no two reds in a row and
    left < right; equal black heights come with it.
    """
    if not entries:
        return _NOSTREAM
    mid = len(entries) // 2
    node = entries[mid]
    node.depth = depth
    node.left = _balanced(entries[:mid], depth + 1)
    node.right = _balanced(entries[mid + 1 :], depth + 1)
    if depth == 0:
        deepest = len(entries).bit_length() - 1
        if len(entries) != (1 << (deepest + 1)) - 1:
            for entry in entries:
                entry.color = 0 if entry.depth == deepest else 1
    return node.index


def _chain(fat: list[int], first: int, count: int) -> None:
    for i in range(count):
        fat[first + i] = first + i + 1 if i + 1 < count else _ENDOFCHAIN


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\x00" * (-len(data) % size)


def write_compound_file(streams: dict[str, bytes]) -> bytes:
    """A [MS-CFB] version 3 file holding ``streams`` ("STORAGE/NAME" paths, one level)."""
    root = _Entry("Root Entry", 5, children=[])
    storages: dict[str, _Entry] = {}
    for path in sorted(streams, key=lambda p: [_cfb_key(part) for part in p.split("/")]):
        parts = path.split("/")
        if len(parts) > 2 or not all(parts) or any(len(p) > 31 for p in parts):
            raise ValueError(f"unsupported stream path {path!r}")
        parent = root
        if len(parts) == 2:
            if parts[0] not in storages:
                storages[parts[0]] = _Entry(parts[0], 1, children=[])
                root.children.append(storages[parts[0]])
            parent = storages[parts[0]]
        parent.children.append(_Entry(parts[-1], 2, data=streams[path]))

    # Number the entries: root, then each storage's children, breadth first.
    order = [root]
    queue = [root]
    while queue:
        node = queue.pop(0)
        node.children.sort(key=lambda e: _cfb_key(e.name))
        for child in node.children:
            child.index = len(order)
            order.append(child)
            if child.children is not None:
                queue.append(child)
    for node in order:
        if node.children is not None:
            node.child = _balanced(node.children)
        if node.kind == 1:
            node.start = 0  # storages have no data: start sector and size are 0

    small = [e for e in order if e.kind == 2 and len(e.data) < _MINI_CUTOFF]
    large = [e for e in order if e.kind == 2 and len(e.data) >= _MINI_CUTOFF]

    mini_stream = bytearray()
    mini_fat: list[int] = []
    for entry in small:
        if not entry.data:
            entry.start = _ENDOFCHAIN
            continue
        count = -(-len(entry.data) // _MINI_SECTOR)
        entry.start = len(mini_fat)
        mini_fat += [0] * count
        _chain(mini_fat, entry.start, count)
        mini_stream += _pad(entry.data, _MINI_SECTOR)

    dir_sectors = -(-len(order) * 128 // _SECTOR)
    minifat_sectors = -(-len(mini_fat) * 4 // _SECTOR)
    ministream_sectors = -(-len(mini_stream) // _SECTOR)
    large_sectors = [-(-len(e.data) // _SECTOR) for e in large]
    other = dir_sectors + minifat_sectors + ministream_sectors + sum(large_sectors)
    fat_sectors = 1
    while fat_sectors * (_SECTOR // 4) < other + fat_sectors:
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("compound file too large for a header-only DIFAT")
    total = fat_sectors + other

    fat = [_FREESECT] * (fat_sectors * (_SECTOR // 4))
    for i in range(fat_sectors):
        fat[i] = _FATSECT
    next_sector = fat_sectors
    dir_start = next_sector
    _chain(fat, dir_start, dir_sectors)
    next_sector += dir_sectors
    minifat_start = next_sector if minifat_sectors else _ENDOFCHAIN
    _chain(fat, next_sector, minifat_sectors)
    next_sector += minifat_sectors
    root.start = next_sector if ministream_sectors else _ENDOFCHAIN
    root.data = bytes(mini_stream)  # only its length is written in the entry
    _chain(fat, next_sector, ministream_sectors)
    next_sector += ministream_sectors
    for entry, count in zip(large, large_sectors):
        entry.start = next_sector
        _chain(fat, next_sector, count)
        next_sector += count
    assert next_sector == total

    header = bytearray()
    header += bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 16
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
    header += b"\x00" * 6
    header += struct.pack("<III", 0, fat_sectors, dir_start)  # 0 directory sectors in v3
    header += struct.pack("<II", 0, _MINI_CUTOFF)
    header += struct.pack("<II", minifat_start, minifat_sectors)
    header += struct.pack("<II", _ENDOFCHAIN, 0)  # no DIFAT sectors
    difat = list(range(fat_sectors)) + [_FREESECT] * (109 - fat_sectors)
    header += struct.pack("<109I", *difat)
    assert len(header) == _SECTOR

    directory = bytearray()
    for entry in order:
        name = entry.name.encode("utf-16-le") + b"\x00\x00"
        directory += name.ljust(64, b"\x00")
        directory += struct.pack("<HBB", len(name), entry.kind, entry.color)
        directory += struct.pack("<III", entry.left, entry.right, entry.child)
        directory += b"\x00" * 16  # CLSID
        directory += struct.pack("<I", 0)  # state bits
        directory += b"\x00" * 16  # creation and modification times
        directory += struct.pack("<IQ", entry.start, len(entry.data))
    while len(directory) % _SECTOR:
        directory += b"\x00" * 64 + struct.pack("<HBB", 0, 0, 0)
        directory += struct.pack("<III", _NOSTREAM, _NOSTREAM, _NOSTREAM)
        directory += b"\x00" * 36 + struct.pack("<IQ", 0, 0)

    body = bytearray()
    body += struct.pack(f"<{len(fat)}I", *fat)
    body += directory
    mini_fat += [_FREESECT] * (minifat_sectors * (_SECTOR // 4) - len(mini_fat))
    body += struct.pack(f"<{len(mini_fat)}I", *mini_fat)
    body += _pad(bytes(mini_stream), _SECTOR)
    for entry in large:
        body += _pad(entry.data, _SECTOR)
    assert len(body) == total * _SECTOR
    return bytes(header + body)

"""Checks run on a workbook file before openpyxl opens it.

They reject, with a Chinese message, what openpyxl would choke on or what is unsafe to open:
oversized files, legacy .xls and password-protected workbooks (OLE2 containers), files that
are not zip archives, zip bombs, and macro-enabled workbooks.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from assistant.errors import InputError

MAX_FILE_BYTES = 20 * 1024 * 1024  # on-disk size
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024  # sum of the declared member sizes
MAX_RATIO = 200  # per member, uncompressed / compressed (real sheets compress 5-30x)
RATIO_FLOOR_BYTES = 1024 * 1024  # small members may compress better without harm
MAX_MEMBERS = 5000

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_ENCRYPTED_MARKERS = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))
_MACRO_CONTENT_TYPES = (b"macroEnabled", b"vbaProject")


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


def check_workbook_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES,
                        max_uncompressed: int = MAX_UNCOMPRESSED_BYTES, display_name: str | None = None) -> None:
    """Raise InputError unless `path` looks like a safe, plain .xlsx workbook (`display_name`: the user's file
    name for messages, when `path` is a temporary copy of an upload)."""
    where = f"文件「{display_name or path.name}」"
    if not path.exists():
        raise InputError("文件不存在", where=where)
    if not path.is_file():
        raise InputError("不是文件（可能是目录）", where=where)
    size = path.stat().st_size
    if size == 0:
        raise InputError("文件为空，不是有效的 xlsx 文件", where=where)
    if size > max_bytes:
        raise InputError(f"文件过大（{_mb(size)}），超过导入上限 {_mb(max_bytes)}；请拆分后再导入", where=where)
    suffix = Path(display_name or path.name).suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(8)
        if head == OLE2_MAGIC:
            body = head + fh.read(max_bytes)
            if any(m in body for m in _ENCRYPTED_MARKERS):
                raise InputError(
                    "工作簿已加密（设置了打开密码），无法读取；请在 Excel 中取消密码（文件→信息→保护工作簿）"
                    "后另存为 .xlsx 再导入", where=where)
            raise InputError(
                "这是旧版 Excel 97-2003 工作簿（.xls，OLE2 格式），不支持；请在 Excel 或 WPS 中"
                "「另存为」Excel 工作簿（.xlsx）后再导入", where=where)
    if not head.startswith(ZIP_MAGIC):
        hint = ""
        if head[:5].lower() in (b"<html", b"<!doc", b"<?xml"):
            hint = "（内容是 HTML/XML 文本，可能是网页导出的伪 Excel 文件）"
        elif head[:4] == b"%PDF":
            hint = "（内容是 PDF 文档）"
        raise InputError(f"不是有效的 xlsx 文件{hint}；请用 Excel 或 WPS 打开后另存为 .xlsx", where=where)
    if suffix in (".xlsm", ".xltm", ".xlam"):
        raise InputError("文件为启用宏的工作簿（.xlsm），出于安全原因不予导入；请另存为不含宏的 .xlsx",
                         where=where)
    _check_zip(path, where, max_uncompressed)


def _check_zip(path: Path, where: str, max_uncompressed: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise InputError(f"压缩包内文件数过多（{len(infos)} 个），疑似恶意文件，拒绝导入", where=where)
            total = 0
            names = set()
            for info in infos:
                names.add(info.filename)
                total += info.file_size
                if info.file_size > RATIO_FLOOR_BYTES:
                    ratio = info.file_size / max(info.compress_size, 1)
                    if ratio > MAX_RATIO:
                        raise InputError(
                            f"压缩比异常（{info.filename} 压缩比 {ratio:.0f}:1），疑似压缩炸弹，拒绝导入",
                            where=where)
            if total > max_uncompressed:
                raise InputError(
                    f"解压后总大小 {_mb(total)} 超过上限 {_mb(max_uncompressed)}，疑似压缩炸弹，拒绝导入",
                    where=where)
            if "word/document.xml" in names:
                raise InputError("这是 Word 文档（.docx），不是 Excel 工作簿", where=where)
            if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
                raise InputError("不是有效的 xlsx 文件（压缩包中没有 xl/workbook.xml）", where=where)
            if "xl/workbook.bin" in names:
                raise InputError("这是 Excel 二进制工作簿（.xlsb），不支持；请另存为 .xlsx", where=where)
            if any(n.lower().endswith("vbaproject.bin") for n in names):
                raise InputError("工作簿包含宏（vbaProject.bin），出于安全原因不予导入；请另存为不含宏的 .xlsx",
                                 where=where)
            if "[Content_Types].xml" in names:
                info = zf.getinfo("[Content_Types].xml")
                if info.file_size < 1024 * 1024:
                    ct = zf.read(info)
                    if any(m in ct for m in _MACRO_CONTENT_TYPES):
                        raise InputError("文件为启用宏的工作簿（.xlsm），出于安全原因不予导入；请另存为不含宏的 .xlsx",
                                         where=where)
    except zipfile.BadZipFile as exc:
        raise InputError(f"不是有效的 xlsx 文件（压缩包已损坏：{exc}）", where=where) from exc

"""Exporters: a review as a 绩效目标审核意见表 (.xlsx / .docx) and a batch summary workbook.

Every text written goes through `assistant.exporters.safe.safe_text` (formula-injection escaping).
"""

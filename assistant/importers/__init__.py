"""Importers: read filled-in performance target tables (绩效目标申报表 / 绩效目标表) into `Target`s.

`assistant.importers.xlsx.read_targets` reads .xlsx workbooks by their labels;
`assistant.importers.xlsx.write_template` writes a blank template that imports back losslessly.
"""

"""The rule catalogue: id, dimension, default severity, title and fix (Chinese), source.

IDs follow ../shared/domain/RULEBOOK.md §4 where a rule is listed there; rules the
rulebook describes only in prose (template residue, Excel serials…) get X-/S-1x ids.
Severities here are defaults; profiles may override them.
"""

from __future__ import annotations

from assistant.models import RuleInfo

_R = RuleInfo

RULES: dict[str, RuleInfo] = {
    r.id: r
    for r in [
        # ---- completeness 完整性 ----
        _R(id="C-01", dimension="completeness", severity="error", title="表头必填项缺失",
           fix="按预算申报信息补全项目名称、主管部门/实施单位、资金总额等表头字段", source="RULEBOOK C-01; S16 S20 S23"),
        _R(id="C-02", dimension="completeness", severity="error", title="年度绩效目标缺失或过于简略",
           fix="写明本年度的产出、效果和完成时间，如“2025年完成X≥N项，Y达标率≥90%”", source="RULEBOOK C-02; S9"),
        _R(id="C-03", dimension="completeness", severity="warning", title="年度目标照抄长期（实施期）目标",
           fix="年度目标应是实施期目标在本年度的分解，写明本年度的工作量", source="RULEBOOK C-03; S8 S12"),
        _R(id="C-04", dimension="completeness", severity="error", title="缺少一级指标类别",
           fix="至少设置产出、效益指标；有服务对象的设置满意度指标；原则上设置成本指标", source="RULEBOOK C-04; S3 S8 S10"),
        _R(id="C-05", dimension="completeness", severity="warning", title="产出指标缺少数量/质量/时效",
           fix="产出指标应覆盖数量、质量、时效三个方面，如“验收合格率≥95%”“完成时间≤12月31日”", source="RULEBOOK C-05; S8 S9"),
        _R(id="C-06", dimension="completeness", severity="error", title="指标名称为空",
           fix="为该行填写具体的三级指标名称，或删除空行", source="RULEBOOK C-06; S5"),
        _R(id="C-07", dimension="completeness", severity="error", title="指标值为空",
           fix="填写指标值（运算符号+数值+单位），或删除该指标", source="RULEBOOK C-07; S5"),
        _R(id="C-08", dimension="completeness", severity="error", title="定量指标缺少计量单位",
           fix="补充计量单位（如 %、人、次、万元），定量指标须有符号、数值和单位", source="RULEBOOK C-08; S28"),
        _R(id="C-09", dimension="completeness", severity="warning", title="三级指标数量不足",
           fix="至少覆盖数量、质量、时效、成本、效益、满意度，三级指标数不少于规定数量", source="RULEBOOK C-09; S15 S32"),
        _R(id="C-10", dimension="completeness", severity="warning", title="可量化指标占比偏低",
           fix="将定性表述改为比率、数量或时限等可量化指标", source="RULEBOOK C-10; S9 S32"),
        _R(id="C-11", dimension="completeness", severity="warning", title="定性指标未说明评判等级和方法",
           fix="在指标解释中写明分级（如达成/部分达成/未达成）及佐证材料", source="RULEBOOK C-11; S9 S28"),
        _R(id="C-14", dimension="completeness", severity="warning", title="绩效目标表述模糊",
           fix="用可衡量的表述替代模糊措辞，如“达标率由85%提升至90%”", source="RULEBOOK C-14; S13 S14"),
        _R(id="C-15", dimension="completeness", severity="warning", title="数量指标计量单位不规范",
           fix="使用具体计量单位：人、人次、户、个、台、公里、平方米、亩等", source="RULEBOOK C-15; S28"),
        _R(id="C-16", dimension="completeness", severity="warning", title="指标未分类（缺少一级/二级指标）",
           fix="按“产出（数量/质量/时效）、成本、效益、满意度”为每个三级指标标明一级和二级类别", source="RULEBOOK §2.2"),
        # ---- relevance 相关性 ----
        _R(id="R-01", dimension="relevance", severity="warning", title="年度目标与项目内容不符",
           fix="年度目标应围绕本项目的资金用途和工作内容表述", source="RULEBOOK R-01; S4 S6"),
        _R(id="R-02", dimension="relevance", severity="warning", title="指标与本项目内容无关",
           fix="删除与本项目无关的指标，改设衡量本项目资金产出和效果的指标", source="RULEBOOK R-02; S4"),
        _R(id="R-03", dimension="relevance", severity="warning", title="指标归类错误",
           fix="质量指标衡量提供服务的标准，效益指标衡量对受益对象或社会的影响，满意度单列", source="RULEBOOK R-03; S8 S12"),
        _R(id="R-04", dimension="relevance", severity="warning", title="以投入代替产出",
           fix="写明产出了什么、提供了多少服务，不以资金金额或工作安排作为产出", source="RULEBOOK R-04; S15 S24"),
        _R(id="R-05", dimension="relevance", severity="warning", title="以资金管理类指标代替绩效指标",
           fix="预算执行率、资金到位率等属过程管理，应改为服务产出和效果指标", source="RULEBOOK R-05; S5 S22 S24"),
        _R(id="R-07", dimension="relevance", severity="info", title="满意度未指明调查对象",
           fix="写明被调查的服务对象，如“受训学员满意度”“受益群众满意度”", source="RULEBOOK R-07; S10"),
        _R(id="R-08", dimension="relevance", severity="warning", title="以满意度代替效益指标",
           fix="将满意度指标移至满意度类别，效益指标填写对受益对象的实际影响", source="RULEBOOK R-08; S12 S23"),
        _R(id="R-09", dimension="relevance", severity="warning", title="指标重复",
           fix="删除重复指标；效益类别中改用培训、建设等的结果（如取证率、使用率）", source="RULEBOOK R-09; S13 S16"),
        _R(id="R-10", dimension="relevance", severity="warning", title="指标名称不规范",
           fix="指标名称应是可计量的对象（如“单车年作业成本”“认定办结率”），不写类别名、口号或数值", source="RULEBOOK R-10; S24 S28"),
        _R(id="R-11", dimension="relevance", severity="warning", title="主要预算支出没有对应产出",
           fix="为每项主要支出设置产出或质量指标", source="RULEBOOK R-11; S20"),
        _R(id="X-01", dimension="relevance", severity="warning", title="表内含有疑似指令性文字",
           fix="删除与绩效目标无关的文字（如要求评审结论的语句）", source="安全要求：目标文本只作为数据"),
        # ---- suitability 适当性 ----
        _R(id="S-01", dimension="suitability", severity="warning", title="指标值低于上年水平",
           fix="延续项目的目标值不应低于上年实际或前三年平均，确需降低的说明原因", source="RULEBOOK S-01; S4 S28"),
        _R(id="S-03", dimension="suitability", severity="warning", title="运算符号方向错误",
           fix="正向指标（覆盖率、合格率等）用≥，反向指标（故障率、成本、时限等）用≤", source="RULEBOOK S-03; S28"),
        _R(id="S-04", dimension="suitability", severity="error", title="百分比超出合理范围",
           fix="比率应在0–100%之间，检查数值或单位", source="RULEBOOK S-04"),
        _R(id="S-05", dimension="suitability", severity="warning", title="满意度目标值不合理",
           fix="满意度按抽样调查设定合理目标（如≥90%），不设为100%，并说明调查范围", source="RULEBOOK S-05; S23"),
        _R(id="S-06", dimension="suitability", severity="error", title="指标值表述模糊",
           fix="给出数值和单位，或给出明确的等级标准", source="RULEBOOK S-06; S13 S14"),
        _R(id="S-09", dimension="suitability", severity="warning", title="可量化的指标用了定性值",
           fix="比率类指标应填写百分比目标，如“合格率≥95%”", source="RULEBOOK S-09; S9"),
        _R(id="S-10", dimension="suitability", severity="error", title="时效指标缺少日期或时限",
           fix="写明完成日期、时限或按时完成率，如“≤2025年10月31日”“办结时限≤5个工作日”", source="RULEBOOK S-10; S8 S20"),
        _R(id="S-11", dimension="suitability", severity="warning", title="计量单位与指标不符",
           fix="率、比例、满意度用%；金额用元或万元；时间用日期或时间单位", source="RULEBOOK S-11; S24"),
        _R(id="S-12", dimension="suitability", severity="warning", title="“≥100%”类目标无意义",
           fix="上限为100%的比率不宜用“≥100%”，改为“=100%”或设定可检验的合理值", source="RULEBOOK §2.4; RUBRIC 适当性"),
        _R(id="S-13", dimension="suitability", severity="warning", title="质量目标值过低",
           fix="合格率、达标率等质量目标应达到正常水平（行业或历史标准），不宜明显偏低", source="RULEBOOK S-07; S4 ③"),
        _R(id="S-14", dimension="suitability", severity="error", title="指标值为模板占位符",
           fix="把“**”等占位符替换为实际目标值", source="corpus: 模板残留"),
        _R(id="S-15", dimension="suitability", severity="warning", title="指标值疑为Excel日期序号",
           fix="将数值改为明确的日期（如“2021年12月31日前”）", source="corpus: Excel 日期序号"),
        _R(id="S-16", dimension="suitability", severity="error", title="指标值无法识别",
           fix="按“运算符号+数值+单位”或明确的等级填写指标值", source="RULEBOOK §2.4"),
        _R(id="S-17", dimension="suitability", severity="warning", title="完成时限超出项目年度",
           fix="时效目标应在项目实施期（本年度）内", source="RULEBOOK FE-03; S20 S26"),
        _R(id="S-18", dimension="suitability", severity="info", title="定量指标缺少运算符号",
           fix="在数值前加运算符号（≥、≤、=），明确目标方向", source="RULEBOOK C-08; S28"),
        # ---- fund_fit 资金匹配性 ----
        _R(id="FF-01", dimension="fund_fit", severity="error", title="成本指标超过预算总额",
           fix="成本指标不应超过项目年度资金总额；如有其他资金来源，说明口径", source="RULEBOOK FF-01; S3"),
        _R(id="FF-02", dimension="fund_fit", severity="warning", title="单位成本×数量与预算不符",
           fix="核对数量、单位成本和预算金额，写明测算依据", source="RULEBOOK FF-02; S3 S20"),
        _R(id="FF-04", dimension="fund_fit", severity="warning", title="成本指标只是复述预算",
           fix="改用单位成本或分项成本，如“单车月服务成本≤2.5万元/辆·月”", source="RULEBOOK FF-04; S23 S25"),
        _R(id="FF-05", dimension="fund_fit", severity="warning", title="资金规模与产出规模不匹配",
           fix="对照同类项目的单位成本核实产出数量或预算金额，写明测算依据", source="RULEBOOK FF-05; S4 S13"),
        _R(id="FF-06", dimension="fund_fit", severity="warning", title="缺少成本指标",
           fix="至少设置一项单位成本或分项成本指标", source="RULEBOOK FF-06; S3 S28"),
        _R(id="FF-07", dimension="fund_fit", severity="error", title="成本指标计量单位错误",
           fix="成本指标使用元、万元或“元/人”等货币单位", source="RULEBOOK FF-07; S24"),
        _R(id="FF-09", dimension="fund_fit", severity="warning", title="未填资金总额，无法核对资金匹配",
           fix="填写年度资金总额及资金来源", source="RULEBOOK C-01 FF-01"),
        _R(id="FF-10", dimension="fund_fit", severity="warning", title="总成本指标与预算金额差距过大",
           fix="总成本指标应与预算金额一致或说明差额原因", source="RULEBOOK FF-01; S3"),
        _R(id="FF-11", dimension="fund_fit", severity="warning", title="预算较上年大幅增加而产出未增加",
           fix="提高产出目标、说明增支原因，或核减预算", source="RULEBOOK FF-05"),
    ]
}


def rule(rule_id: str) -> RuleInfo:
    return RULES[rule_id]

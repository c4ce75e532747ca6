"""Built-in Chinese business vocabulary: cue words and interchangeable terms.

Column names differ from table to table (成交均价 / 单价 / 房价), so the question layer
keeps a small, general lexicon of words people use for the same concept and of the cue
words that signal aggregations, comparisons and question forms. It is data, not logic:
extend a tuple here (or add per-dataset synonyms in the catalog) rather than a rule.
"""
from __future__ import annotations

# question word → column-name fragments it can stand for, in order of preference
CONCEPTS: dict[str, tuple[str, ...]] = {
    "房价": ("均价", "单价", "价格"),
    "售价": ("均价", "单价", "价格"),
    "均价": ("均价", "单价"),
    "单价": ("单价", "均价"),
    "价格": ("价格", "总价", "均价", "单价", "价"),
    "价钱": ("价格", "总价", "均价", "单价"),
    "销量": ("销量", "销售量", "成交套数", "成交量", "套数"),
    "销售量": ("销售量", "销量", "成交套数", "成交量", "套数"),
    "成交量": ("成交量", "成交套数", "套数", "销量"),
    "利润": ("利润",),
    "收入": ("收入", "营收"),
    "营收": ("营收", "收入"),
    "成本": ("成本",),
    "负债": ("负债",),
    "资产": ("资产",),
    "开发商": ("开发商",),
    "开发": ("开发商",),
    "违约": ("信用债", "违约"),
    "时间": ("日期", "时间"),
    "日子": ("日期",),
    "人口": ("人口",),
    "公司": ("企业名称", "公司名称", "企业", "公司"),
    "企业": ("企业名称", "公司名称", "企业", "公司"),
    "小区": ("项目名称", "小区名称", "小区", "楼盘"),
    "楼盘": ("项目名称", "楼盘", "小区"),
    "项目": ("项目名称", "项目"),
    "地块": ("地块名称", "地块"),
    "土地": ("地块名称", "地块"),
    "天数": ("天数",),
}

# interchangeable heads inside a column name (the column 成交日期 is also 成交时间)
HEAD_SWAPS: tuple[tuple[str, str], ...] = (
    ("日期", "时间"), ("时间", "日期"), ("数量", "数"), ("人数", "人"), ("金额", "额"),
    ("总数", "数"), ("次数", "次"),
)

# suffixes a column name may drop in speech: 清运量 → 清运, 环卫工人数 → 环卫工人
DROPPABLE_SUFFIXES = ("数量", "总数", "总量", "总额", "数", "量")

# suffixes a value may drop: 南湖区 → 南湖, 噪音扰民类 → 噪音扰民
VALUE_SUFFIXES = ("监测站", "街道", "社区", "有限公司", "公司", "集团", "区", "县", "市", "镇", "乡",
                  "村", "站", "类", "省")

# words inside column names too generic to identify a column on their own
GENERIC = {"名称", "类型", "情况", "状态", "数量", "时间", "日期", "编号", "信息", "总计", "合计",
           "月份", "年份", "成交", "营业", "总额", "总量", "总数", "指标", "区域", "比例", "人数"}

MODIFY_WORDS = ("删除", "删掉", "删了", "清空", "修改", "更改", "改成", "改为", "更新", "插入", "添加",
                "新增一条", "写入", "导入", "DROP", "DELETE", "UPDATE", "INSERT", "TRUNCATE")
FORECAST_WORDS = ("预测", "预计", "预估", "预报", "将会", "会不会", "未来", "明天", "后天", "下周",
                  "下个月", "下月", "明年", "下一年", "下季度", "下个季度", "将来", "趋势预测")
SMALLTALK = ("你好", "您好", "谢谢", "你是谁", "再见", "早上好", "晚上好", "哈哈", "在吗", "HELLO", "HI",
             "讲个笑话", "天气怎么样")

# unknown-metric detection: a leftover word ending like this names a measure we do not have
METRIC_SUFFIXES = ("量", "率", "额", "价", "度", "值", "指数", "面积", "时长", "温度", "人口", "收入",
                   "成本", "利润", "费用", "金额", "得分", "分数", "排放")
# leftover words that look like metrics but are only question words
NOT_METRIC = {"数量", "总量", "总额", "多少量", "平均值", "均值", "最大值", "最小值", "程度", "总值",
              "力度", "速度", "角度", "进度", "态度", "年度", "季度", "月度", "额度", "一度", "高度",
              "难度", "频率", "价", "量", "率", "度", "值", "额"}

# ---- item: schema-agnostic mentions
# words in front of a column's head noun that speech drops: 所在街道 → 街道, 行政区 → 区
MODIFIER_PREFIXES = ("所在", "所属", "所处", "归属", "隶属", "行政", "管辖", "责任")
# tails of a name column that speech drops: 街道名称 → 街道, 区县名 → 区县 (编号/代码 are NOT here:
# an ID column is only named in full, so 工单 never picks 工单编号)
NAME_TAILS = ("名称", "名字", "全称", "简称", "名")
# head nouns of place and kind columns, and the words that name them on their own:
# 区县名称 → 区 / 县, 监测站点 → 站, 乡镇 → 镇 (longest first when matching a column's end)
HEAD_NOUNS: dict[str, tuple[str, ...]] = {
    "区县": ("区县", "区", "县"), "县区": ("县区", "区", "县"), "乡镇": ("乡镇", "镇", "乡"),
    "街镇": ("街镇", "街道", "镇"), "站点": ("站点", "站"), "街道": ("街道",), "社区": ("社区",),
    "网格": ("网格",), "小区": ("小区",), "片区": ("片区",), "区域": ("区域",), "区": ("区",), "县": ("县",),
    "市": ("市",), "镇": ("镇",), "乡": ("乡",), "村": ("村",), "站": ("站",), "类型": ("类型", "类别", "种类"),
    "类别": ("类别", "类型", "种类"),
}
# an identifier column: named in full only, never a grouping picked from a partial word
ID_NAME = r"(编号|编码|代码|序号|ID|单号|号码|工号|证号|流水号)$"

# nouns that mean "rows of this kind of table": 工单数 / 投诉量 / 多少件事件 are row counts. Each group
# lists words used for the same records; a table whose name holds one of them answers to all.
COUNT_NOUNS: tuple[tuple[str, ...], ...] = (
    ("工单", "投诉", "诉求", "热线", "来电", "举报", "来件"),
    ("案件", "事件", "案卷"),
    ("记录", "条目"),
)
# what may follow a count noun to ask for the count: 工单数, 投诉量, 事件数量, 案件总数
COUNT_TAIL = r"(?:数量|总数|总量|件数|条数|个数|次数|数|量)"

# words that carry no content of their own: left unused, they are not reported or refused
FUNCTION_WORDS = {"请问", "请", "问", "一下", "多少", "几", "个", "什么", "怎么", "怎样", "如何", "那", "那么", "呢",
                  "吗", "吧", "啊", "呀", "一", "下", "所", "那个", "这个", "哪", "情况", "分别", "都", "也", "还",
                  "就", "又", "再", "只", "能", "可以", "告诉", "我", "我们", "你", "帮我", "看看", "看", "查", "查询",
                  "查一下", "统计", "数据", "显示", "给出", "给", "出", "来", "上", "下的", "其", "它", "它们",
                  "状况", "情形", "表现", "详情", "具体", "结果",
                  "全市", "全区", "全县", "全部", "总体", "整体", "所有", "全体", "全", "目前", "现在", "当前"}

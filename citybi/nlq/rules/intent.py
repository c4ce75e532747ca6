"""Refuse what is not a question about the data: changes, forecasts, small talk."""
from __future__ import annotations

from ..context import ParseContext
from ..lexicon import FORECAST_WORDS, MODIFY_WORDS, SMALLTALK
from . import register


@register
class IntentRule:
    name = "intent"
    order = 10

    def apply(self, ctx: ParseContext) -> None:
        # a follow-up's 改成 / 换成 was taken by the follow-up rule: only what is left is checked
        q = ctx.leftover() if ctx.prior is not None else ctx.q
        for w in MODIFY_WORDS:
            if w in q:
                ctx.refuse(f"问数只能查询数据，不能修改或删除数据（问题里有「{w}」）。"
                           "如需更正数据，请在「数据」页重新导入文件。")
        for w in FORECAST_WORDS:
            if w in q:
                ctx.refuse(f"问数只回答已有数据里的事实，不做预测（问题里有「{w}」）。"
                           "可以改问过去的情况，例如最近7天或上个月。")
        stripped = q.strip("？?！!。.，,~ ")
        if any(stripped.startswith(w) for w in SMALLTALK) and len(stripped) <= 8:
            ctx.refuse("您好！我可以回答关于已导入数据的问题，例如下面这些。")

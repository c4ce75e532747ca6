"""预警 page: alert rules on KPI cards and charts (create in two clicks, edit, 测试发送, 暂停), the firing
history with the rows behind each firing, and the delivery channels with 测试发送. Every action is one
call into citybi.alerts.service (the app's AlertService, on the app's one scheduler)."""
from __future__ import annotations

import polars as pl
import streamlit as st

from citybi.alerts.authoring import watchables
from citybi.alerts.rules import CHANNEL_LABELS, KIND_LABELS, channel_from_dict, load_rule, rule_from_dict
from citybi.secrets import SecretStore
from citybi.ui.auth import gate
from citybi.ui.state import action, alert_service, flash, get_warehouse, guarded, show_flash, show_frame
from citybi.usertext import md

gate("alerts.manage")  # who is asking, for this run (and the login form when nobody is)
st.title("预警")
st.caption("盯住看板上的指标卡和图表：超过阈值、同比/环比变化过大、到期未达目标或出现异常波动时，推送到企业微信、钉钉、"
           "飞书、邮件或其他系统。同一情况只提醒一次，恢复正常时再告知；机器人地址和密钥只按名称引用。")
show_flash()

service = guarded(alert_service)
if service is None:
    st.stop()
wh_path = get_warehouse().path


def _when(value: object) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


tab_rules, tab_history, tab_channels = st.tabs(["规则", "预警记录", "推送渠道"])

with tab_rules:
    names = service.rules.names()
    firing = guarded(service.history.firing_groups) or {}
    checks = guarded(service.history.checks) or {}
    rules = {}
    problems = {}
    for n in names:
        try:
            rules[n] = service.rules.load(n)
        except Exception as err:  # a broken file is listed with its problem
            problems[n] = str(err)
    if names:
        st.dataframe(pl.DataFrame({
            "名称": names,
            "监控与条件": [rules[n].describe() if n in rules else problems[n] for n in names],
            "检查": [rules[n].describe_schedule() if n in rules else "—" for n in names],
            "状态": ["已暂停" if n in rules and rules[n].paused else
                     ("正在预警：" + "、".join(g or "全部" for g in firing[n]) if firing.get(n) else "正常")
                     for n in names],
            "上次检查": [_when(checks[n].checked_at) if n in checks else "—" for n in names],
            "推送渠道": ["、".join(rules[n].channels) if n in rules else "" for n in names],
        }), hide_index=True, width="stretch", key="alerts_overview")
    else:
        st.info("还没有预警规则。在下方选择看板中的指标卡或图表，点「创建预警」即可。")

    st.subheader("新建")
    boards = service.boards.names()
    c1, c2, c3 = st.columns([2, 3, 1])
    source = c1.selectbox("来自", [*boards, "（已保存的图表）"], key="al_new_board")
    board = None if source == "（已保存的图表）" else source
    options = guarded(lambda: watchables(service.boards, service.charts, board)) or []
    picked = c2.selectbox("监控哪个指标卡或图表", options, format_func=lambda w: w.label, key="al_new_tile")
    c3.write("")
    if c3.button("创建预警", type="primary", key="al_create", disabled=picked is None):
        made = guarded(lambda: service.new_rule(board, picked.tile))
        if made is not None:
            flash(f"已创建预警「{made.name}」：{made.describe()}。可在下方修改条件和推送渠道。")
            st.session_state["al_pick"] = made.name
            st.rerun()

    if rules:
        st.subheader("管理")
        chosen = st.selectbox("规则", list(rules), key="al_pick")
        rule = rules[chosen]
        st.markdown(md(f"{rule.describe()} · {rule.describe_schedule()}"
                       + (f" · 免打扰 {rule.quiet_hours}" if rule.quiet_hours else "")))
        b = st.columns(5)
        if b[0].button("立即检查", key="al_check"):
            out = guarded(lambda: service.check(chosen))
            if out is not None:
                if not out.ok:
                    st.error(md(out.message))
                else:
                    shown = [v.reason for _r, v in (out.evaluation.pairs() if out.evaluation else [])][:30]
                    st.success(md(("满足条件：" + "、".join(g or "全部" for g in out.holding)) if out.holding
                                  else "检查完成：没有满足条件的情况。"))
                    for line in shown:
                        st.caption(md(line))
        if b[1].button("测试发送", key="al_test"):
            sent = guarded(lambda: service.test_rule(chosen))
            for d in sent or []:
                (st.success if d["ok"] else st.error)(md(f"{d['channel']}：{d.get('note') or d.get('error')}"))
        if rule.paused:
            if b[2].button("恢复", key="al_resume") and action(lambda: service.set_paused(chosen, False)):
                flash(f"已恢复「{chosen}」。")
                st.rerun()
        elif b[2].button("暂停", key="al_pause") and action(lambda: service.set_paused(chosen, True)):
            flash(f"已暂停「{chosen}」（不再检查和推送）。")
            st.rerun()
        with b[4].popover("删除"):
            st.caption("只删除规则；预警记录保留。")
            if st.button("确认删除", key="al_delete") and action(lambda: service.delete_rule(chosen)):
                flash(f"已删除预警规则「{chosen}」。")
                st.rerun()

        with st.form(f"al_edit_{chosen}"):
            cond = rule.condition
            kinds = list(KIND_LABELS)
            kind = st.selectbox("条件", kinds, index=kinds.index(cond.kind), format_func=KIND_LABELS.get,
                                key=f"al_kind_{chosen}")
            c = st.columns(4)
            value = c[0].number_input("阈值（高于/低于）", value=float(cond.value or 0), key=f"al_value_{chosen}")
            pct = c[1].number_input("变化幅度 %（同比/环比）", min_value=0.1, value=float((cond.pct or 0.3) * 100),
                                    key=f"al_pct_{chosen}")
            compare = c[2].radio("对比", ["环比", "同比"], index=0 if cond.compare == "环比" else 1, horizontal=True,
                                 key=f"al_compare_{chosen}")
            ways = ["up", "down", "any"]
            direction = c[3].radio("方向", ways, index=ways.index(cond.way), horizontal=True,
                                   format_func={"up": "上升", "down": "下降", "any": "升降"}.get,
                                   key=f"al_dir_{chosen}")
            c = st.columns(4)
            by = c[0].date_input("期限（到期未达目标）", value=cond.by, key=f"al_by_{chosen}")
            k = c[1].number_input("异常：k 倍离差", min_value=0.5, max_value=20.0, value=float(cond.k),
                                  key=f"al_k_{chosen}")
            periods = c[2].number_input("异常：参考期数", min_value=4, max_value=120, value=int(cond.periods),
                                        key=f"al_periods_{chosen}")
            group_by = c[3].text_input("按组检查（列名，如 区、街道）", value=rule.group_by or "",
                                       key=f"al_group_{chosen}")
            c = st.columns(3)
            every = c[0].number_input("检查间隔（分钟，0 为只在数据更新后）", min_value=0,
                                      value=int((rule.every or 0) // 60), key=f"al_every_{chosen}")
            repeat = c[1].number_input("持续时重复提醒间隔（小时，0 为不重复）", min_value=0,
                                       value=int(rule.repeat_every // 3600), key=f"al_repeat_{chosen}")
            quiet = c[2].text_input("免打扰时段（如 22:00-07:00）", value=rule.quiet_hours or "",
                                    key=f"al_quiet_{chosen}")
            channels = st.multiselect("推送渠道", service.channels.names(), default=rule.channels,
                                      key=f"al_channels_{chosen}")
            if st.form_submit_button("保存修改", type="primary"):
                data = rule.model_dump(mode="json", exclude_defaults=True)
                data["condition"] = {"kind": kind, "compare": compare, "direction": direction, "k": k,
                                     "periods": int(periods),
                                     **({"value": value} if kind in ("above", "below") else {}),
                                     **({"pct": pct / 100} if kind == "change" else {}),
                                     **({"by": by.isoformat()} if kind == "target" and by else {})}
                data.update({"group_by": group_by.strip() or None, "every": int(every) * 60 or None,
                             "cron": None if every else rule.cron, "repeat_every": int(repeat) * 3600,
                             "quiet_hours": quiet.strip() or None, "channels": channels})
                made = guarded(lambda: rule_from_dict({k2: v for k2, v in data.items() if v is not None}))
                if made is not None and action(lambda: service.save_rule(made)):
                    flash(f"已保存「{made.name}」：{made.describe()}。")
                    st.rerun()
        with st.expander("YAML（可直接修改）"):
            text = st.text_area("规则定义", value=service.rules.text(chosen), height=260, key=f"al_yaml_{chosen}")
            if st.button("保存 YAML", key=f"al_yaml_save_{chosen}"):
                made = guarded(lambda: load_rule(text))
                if made is not None and action(lambda: service.save_rule(made)):
                    flash(f"已保存「{made.name}」。")
                    st.rerun()
    for n, p in problems.items():
        st.error(md(f"「{n}」：{p}"))

    st.subheader("简报")
    st.caption("按计划把看板发给领导：指标卡的数值和同比/环比，附看板图片。定义保存在仓库旁 .alerts/briefings/ 中，"
               "例如 name: 环卫晨报 / board: 环卫运行 / cron: \"0 8 * * 1-5\" / channels: [领导邮箱]。")
    briefings = service.briefings.names()
    if not briefings:
        st.caption("还没有简报。")
    else:
        bc1, bc2 = st.columns([3, 1])
        brief = bc1.selectbox("简报", briefings, key="al_brief_pick")
        bc2.write("")
        if bc2.button("立即发送", key="al_brief_send"):
            with st.spinner("正在生成看板图片并发送……"):
                sent = guarded(lambda: service.send_briefing(brief))
            if sent is not None:
                (st.success if sent.status == "sent" else st.error)(md(f"{sent.title}：{sent.status_label}；"
                                                                       f"{sent.delivery_text()}"))

with tab_history:
    which = st.selectbox("规则", ["全部", *names], key="al_hist_pick")
    firings = guarded(lambda: service.history.firings(None if which == "全部" else which, limit=200)) or []
    if not firings:
        st.caption("还没有预警记录。")
    else:
        st.dataframe(pl.DataFrame({
            "编号": [f.id for f in firings],
            "时间": [_when(f.at) for f in firings],
            "类型": [f.event_label for f in firings],
            "规则": [f.rule for f in firings],
            "组": [f.group or "全部" for f in firings],
            "数值": [f.value for f in firings],
            "推送": [f.status_label for f in firings],
            "说明": [f.message.split("\n")[0] for f in firings],
        }, schema_overrides={"数值": pl.Float64}), hide_index=True, width="stretch", key="alerts_history")
        fid = st.selectbox("查看一条记录", [f.id for f in firings], format_func=lambda i: f"#{i}", key="al_fid")
        f = next(x for x in firings if x.id == fid)
        st.markdown(md(f"**{f.title}**"))
        for line in f.message.split("\n"):
            st.caption(md(line))
        if f.deliveries:
            st.caption(md("推送：" + f.delivery_text()))
        if f.rows.height:
            show_frame(f.rows, download=f"{f.rule}-{fid}", download_key="al_rows_download", key="al_rows")

with tab_channels:
    channels = service.channels.names()
    loaded = {}
    for n in channels:
        try:
            loaded[n] = service.channels.load(n)
        except Exception as err:  # listed with its problem
            st.error(md(f"「{n}」：{err}"))
    if loaded:
        st.dataframe(pl.DataFrame({
            "名称": list(loaded),
            "类型": [c.label for c in loaded.values()],
            "地址/服务器": [f"密钥「{c.url_secret}」" if c.url_secret else f"{c.smtp_host}:{c.smtp_port}"
                          for c in loaded.values()],
            "签名": [f"密钥「{c.sign_secret}」" if c.sign_secret else "—" for c in loaded.values()],
            "收件人": ["、".join(c.to) for c in loaded.values()],
        }), hide_index=True, width="stretch", key="alerts_channels")
        c1, c2 = st.columns([3, 1])
        to_test = c1.selectbox("渠道", list(loaded), key="al_ch_pick")
        c2.write("")
        if c2.button("测试发送", key="al_ch_test"):
            d = service.test_channel(to_test)
            (st.success if d["ok"] else st.error)(md(f"{d['channel']}：{d.get('note') or d.get('error')}"))
    else:
        st.caption("还没有推送渠道。")

    st.subheader("添加 / 修改渠道")
    editing = st.selectbox("编辑", ["（新建渠道）", *loaded], key="al_ch_edit")
    base = loaded.get(editing)
    sfx = "new" if base is None else f"e_{editing}"
    with st.form(f"al_ch_form_{sfx}"):
        kinds = list(CHANNEL_LABELS)
        name = st.text_input("名称", value=base.name if base else "", disabled=base is not None, key=f"ch_name_{sfx}")
        kind = st.selectbox("类型", kinds, index=kinds.index(base.kind) if base else 0, format_func=CHANNEL_LABELS.get,
                            key=f"ch_kind_{sfx}")
        known = guarded(lambda: SecretStore(wh_path).names()) or []
        c = st.columns(2)
        url_secret = c[0].text_input("机器人地址的密钥名称", value=(base.url_secret or "") if base else "",
                                     key=f"ch_url_{sfx}", help="已保存的密钥：" + ("、".join(known) or "（还没有）"))
        sign_secret = c[1].text_input("签名密钥名称（钉钉加签 / 飞书签名校验，可不填）",
                                      value=(base.sign_secret or "") if base else "", key=f"ch_sign_{sfx}")
        c = st.columns(4)
        host = c[0].text_input("邮件服务器", value=(base.smtp_host or "") if base else "", key=f"ch_host_{sfx}")
        port = c[1].number_input("端口", min_value=1, max_value=65535, value=base.smtp_port if base else 25,
                                 key=f"ch_port_{sfx}")
        security = c[2].selectbox("加密", ["none", "starttls", "ssl"],
                                  index=["none", "starttls", "ssl"].index(base.security) if base else 0,
                                  key=f"ch_sec_{sfx}")
        sender = c[3].text_input("发件人", value=(base.sender or "") if base else "", key=f"ch_from_{sfx}")
        to = st.text_input("收件人（多个用逗号分隔）", value="，".join(base.to) if base else "", key=f"ch_to_{sfx}")
        if st.form_submit_button("保存渠道", type="primary"):
            values = {"name": (base.name if base else name).strip(), "kind": kind, "url_secret": url_secret.strip(),
                      "sign_secret": sign_secret.strip(), "smtp_host": host.strip(), "smtp_port": int(port),
                      "security": security, "sender": sender.strip(),
                      "to": [a.strip() for a in to.replace("，", ",").split(",") if a.strip()]}
            if kind != "email":
                values = {k: v for k, v in values.items() if k not in ("smtp_port", "security")}
            made = guarded(lambda: channel_from_dict({k: v for k, v in values.items() if v not in ("", [], None)}))
            if made is not None and action(lambda: service.save_channel(made)):
                flash(f"已保存推送渠道「{made.name}」。")
                st.rerun()
    with st.expander("保存机器人地址或密码（密钥）"):
        st.caption("保存在数据仓库旁只有运行账户可读的密钥文件中，不写进规则和渠道定义、不显示、不记日志。")
        with st.form("al_secret_form", clear_on_submit=True):
            s_name = st.text_input("密钥名称", key="al_s_name", placeholder="例如 值班群-地址")
            s_value = st.text_input("地址、签名密钥或密码", type="password", key="al_s_value")
            if st.form_submit_button("保存密钥") and action(lambda: SecretStore(wh_path).set(s_name, s_value)):
                st.success(md(f"已保存密钥「{s_name.strip()}」。"))

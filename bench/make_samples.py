"""Write the demo exports of data/samples (deterministic: the same files on every run).

    python bench/make_samples.py [OUT_DIR]

Each file imports cleanly into a plan made from the matching template (fiscal year from 2026-04):
- sales_sfa_deals_cp932.csv        CP932 record list from an SFA, title lines, a total row and a footer;
                                   mapping in sales_sfa_deals_cp932.mapping.json (everything dated by 商談日).
- sales_monthly_long_utf16.csv     the same deals summarised per month, UTF-16 "Unicode text", tab-separated,
                                   long layout (年月, 指標, 実績).
- marketing_monthly_summary_utf8.csv  UTF-8 with BOM, one row per month, metrics as columns.
- cs_kpi_wide_months_cp932.csv     CP932, Excel style: one row per metric, months as columns, a 合計 column.
- hr_applicants.csv                UTF-8 applicant list; mapping in hr_applicants.mapping.json.
"""
from __future__ import annotations

import csv
import io
import json
import random
import sys
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "samples"
SALES_MONTHS = [date(2026, m, 1) for m in (7, 8, 9, 10)]
EXPORTED = "2026/11/02 09:15"

COMPANIES = ["㈱アルファ精機", "ベータ工業㈱", "髙橋ロジスティクス㈱", "㈲ガンマ商店", "デルタ電機㈱", "イプシロン食品㈱",
             "㈱ゼータシステムズ", "エータ建設㈱", "㈱シータ物産", "イオタ製薬㈱", "カッパ運輸㈱", "㈱ラムダ不動産",
             "ミュー化学㈱", "㈱ニューメディア", "クシー電子㈱", "オミクロン商事㈱"]
SUBJECTS = ["基幹システム更改", "勤怠管理の導入", "営業支援ツール追加", "保守契約の更新", "拠点ネットワーク刷新",
            "データ分析基盤", "コールセンター増席", "ライセンス追加"]
REPS = ["佐藤", "髙橋", "鈴木", "田中", "山﨑", "渡邊"]
WON, LOST, OPEN, QUALIFIED = "受注", "失注", "提案中", "商談化"


def records_mapping(date_column: str, note: str, metrics: dict) -> dict:
    """A record-list mapping as the import saves it: every metric dated by `date_column`, a clash refused."""
    return {"version": 1, "shape": "records", "date_column": date_column, "filters": [], "combine": "reject",
            "note": note, "metrics": metrics}


SALES_MAPPING = records_mapping(
    "商談日", "Every metric is dated by 商談日 (the month of the meeting), so revenue = meetings x win_rate x avg_deal "
             "holds month by month. Open deals (提案中, 商談化) count as meetings but not as wins.", {
        "meetings": {"source": "count"},
        "won": {"source": "count", "filters": [{"column": "フェーズ", "op": "in", "value": [WON, "won"]}]},
        "revenue": {"source": "sum", "column": "金額",
                    "filters": [{"column": "フェーズ", "op": "in", "value": [WON, "won"]}]},
        "win_rate": {"source": "formula", "formula": "won / meetings"},
        "avg_deal": {"source": "formula", "formula": "revenue / won"}})


def _csv_text(rows: list[list[object]], delimiter: str = ",", newline: str = "\r\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return buffer.getvalue()


def _yen(amount: int, rng: random.Random) -> str:
    """Amounts as an SFA prints them: with separators, sometimes with the yen sign (byte 0x5C in CP932)."""
    text = f"{amount:,}"
    return "\\" + text if rng.random() < 0.15 else text


def sales_deals(rng: random.Random) -> list[dict]:
    """About 50 meetings a month, a quarter of them won at about ¥1.2M; some of October's are still open."""
    deals, number = [], 1
    for month in SALES_MONTHS:
        count = rng.randint(46, 54)
        winners = set(rng.sample(range(count), round(count * rng.uniform(0.21, 0.27))))
        for i in range(count):
            met = month + timedelta(days=rng.randint(0, 27))
            amount = rng.randrange(700_000, 1_700_000, 10_000)
            still_open = month == SALES_MONTHS[-1] and i not in winners and rng.random() < 0.2
            phase = rng.choice([OPEN, QUALIFIED]) if still_open else WON if i in winners else LOST
            closed = met + timedelta(days=rng.randint(5, 40)) if phase in (WON, LOST) else None
            deals.append({"id": f"OPP-{20260000 + number}", "subject": f"{rng.choice(SUBJECTS)}{'①②③'[number % 3]}",
                          "company": rng.choice(COMPANIES), "phase": phase,
                          "amount": None if phase == QUALIFIED and rng.random() < 0.5 else amount,
                          "met": met, "closed": closed, "rep": rng.choice(REPS)})
            number += 1
    return deals


def sales_deals_csv(deals: list[dict], rng: random.Random) -> bytes:
    header = ["商談ID", "商談名", "取引先名", "フェーズ", "金額", "商談日", "完了日", "担当者"]
    width = len(header)
    rows: list[list[object]] = [["商談一覧（2026/07/01〜2026/10/31）"] + [""] * (width - 1),
                                [f"出力日: {EXPORTED}"] + [""] * (width - 1), [""] * width, header]
    for d in deals:
        rows.append([d["id"], d["subject"], d["company"], d["phase"],
                     "" if d["amount"] is None else _yen(d["amount"], rng), f"{d['met']:%Y/%m/%d}",
                     f"{d['closed']:%Y/%m/%d}" if d["closed"] else "", d["rep"]])
    total = sum(d["amount"] or 0 for d in deals)
    rows.append(["合計", "", "", "", f"{total:,}", "", "", ""])
    rows.append([f"出力件数: {len(deals)}件"])
    return _csv_text(rows).encode("cp932")


def monthly_sales(deals: list[dict]) -> dict[date, dict[str, float]]:
    """The figures the deals give per month of 商談日 (what the mapping above computes)."""
    result = {}
    for month in SALES_MONTHS:
        mine = [d for d in deals if d["met"].replace(day=1) == month]
        won = [d for d in mine if d["phase"] == WON]
        revenue = sum(d["amount"] for d in won)
        result[month] = {"meetings": len(mine), "won": len(won), "revenue": revenue}
    return result


def sales_long_utf16(deals: list[dict]) -> bytes:
    rows: list[list[object]] = [["年月", "指標", "実績"]]
    for month, m in monthly_sales(deals).items():
        label = f"{month:%Y/%m}"
        rows += [[label, "商談数", m["meetings"]], [label, "受注率", f"{m['won'] / m['meetings']:.1%}"],
                 [label, "平均受注単価", f"{round(m['revenue'] / m['won']):,}"], [label, "売上", f"{m['revenue']:,}"]]
    return _csv_text(rows, delimiter="\t").encode("utf-16")  # Excel's "Unicode text": UTF-16 LE with BOM


def marketing_summary(rng: random.Random) -> bytes:
    rows: list[list[object]] = [["月", "リード数", "MQL率", "SQL率", "受注率", "平均単価", "マーケ起点売上"]]
    totals = [0, 0]
    for i, month in enumerate(SALES_MONTHS):
        leads = rng.randint(380, 430)
        mql = round(leads * rng.uniform(0.37, 0.43))
        sql = round(mql * rng.uniform(0.46, 0.54))
        wins = max(1, round(sql * rng.uniform(0.22, 0.28)))
        revenue = wins * rng.randrange(360_000, 440_000, 1_000)
        leads_text = str(leads).translate(str.maketrans("0123456789", "０１２３４５６７８９")) if i == 1 else leads
        rows.append([f"{month:%Y/%m}", leads_text, f"{mql / leads:.1%}", f"{sql / mql:.1%}", f"{wins / sql:.1%}",
                     f"{round(revenue / wins):,}", f"{revenue:,}"])
        totals[0] += leads
        totals[1] += revenue
    rows.append(["合計", f"{totals[0]:,}", "", "", "", "", f"{totals[1]:,}"])
    return b"\xef\xbb\xbf" + _csv_text(rows).encode("utf-8")


def cs_wide_months(rng: random.Random) -> bytes:
    months = [date(2026, m, 1) for m in range(4, 10)]
    customers, mrr, churn, expansion, nps, revenue = [], [], [], [], [], []
    count = 190
    for _ in months:
        count += rng.randint(0, 4)
        customers.append(count)
        mrr.append(rng.randrange(240_000, 262_000, 500))
        churn.append(round(rng.uniform(0.007, 0.014), 3))
        expansion.append(round(rng.uniform(0.024, 0.035), 3))
        nps.append(rng.randint(27, 35))
        revenue.append(round(customers[-1] * mrr[-1] * (1 - churn[-1] + expansion[-1])))
    header = ["指標", "単位"] + [f"{m.year}年{m.month}月" for m in months] + ["合計"]
    rows: list[list[object]] = [
        ["カスタマーサクセス 月次KPIレポート"] + [""] * (len(header) - 1), header,
        ["契約社数", "社", *customers, ""],
        ["平均月額", "円", *[f"{v:,}" for v in mrr], ""],
        ["解約率", "%", *[f"{v:.1%}" for v in churn], ""],
        ["拡大率", "%", *[f"{v:.1%}" for v in expansion], ""],
        ["NPS", "pt", *nps, ""],
        ["継続売上", "円", *[f"{v:,}" for v in revenue], f"{sum(revenue):,}"],
        ["※ 解約率・拡大率はMRRベース"]]
    return _csv_text(rows).encode("cp932")


HR_MAPPING = records_mapping(
    "応募日", "Cohorts by 応募日. offers: rows with an offer date; accepted: 内定承諾 or 入社; retention_3m: still "
             "employed after 3 months among those who joined. retained_hires counts the ○ of 3ヶ月在籍.", {
        "applications": {"source": "count"},
        "offers": {"source": "count", "filters": [{"column": "内定日", "op": "filled"}]},
        "accepted": {"source": "count", "filters": [{"column": "選考ステータス", "op": "in", "value": ["内定承諾", "入社"]}]},
        "hired": {"source": "count", "filters": [{"column": "選考ステータス", "op": "=", "value": "入社"}]},
        "retained_hires": {"source": "count", "filters": [{"column": "3ヶ月在籍", "op": "=", "value": "○"}]},
        "pass_rate": {"source": "formula", "formula": "offers / applications"},
        "offer_acceptance": {"source": "formula", "formula": "accepted / offers"},
        "retention_3m": {"source": "formula", "formula": "retained_hires / hired"}})


def hr_applicants(rng: random.Random) -> bytes:
    header = ["応募ID", "応募日", "職種", "応募経路", "選考ステータス", "内定日", "入社日", "3ヶ月在籍"]
    rows: list[list[object]] = [header]
    roles = ["法人営業", "カスタマーサクセス", "エンジニア", "マーケティング", "経理"]
    channels = ["求人サイト", "社員紹介", "ダイレクト", "人材紹介", "自社サイト"]
    number, hires = 1, 0
    for month in [date(2026, m, 1) for m in (4, 5, 6, 7)]:
        applications = rng.randint(92, 108)
        offers = set(rng.sample(range(applications), rng.randint(9, 11)))
        for i in range(applications):
            applied = month + timedelta(days=rng.randint(0, 27))
            status, offered, joined, retained = rng.choice(["書類不合格", "面接不合格", "辞退"]), "", "", ""
            if i in offers:
                offered = f"{applied + timedelta(days=rng.randint(14, 30)):%Y/%m/%d}"
                roll = rng.random()
                if roll < 0.45:
                    status = "入社"
                    joined = f"{applied + timedelta(days=rng.randint(35, 60)):%Y/%m/%d}"
                    hires += 1
                    retained = "×" if hires % 7 == 3 else "○"  # about 1 in 7 leaves within 3 months
                elif roll < 0.52:
                    status = "内定承諾"  # accepted, joins later
                else:
                    status = "内定辞退"
            rows.append([f"A{number:05d}", f"{applied:%Y/%m/%d}", rng.choice(roles), rng.choice(channels), status,
                         offered, joined, retained])
            number += 1
    return _csv_text(rows).encode("utf-8")


def write_all(out: Path = OUT) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261102)
    deals = sales_deals(rng)
    files = {
        "sales_sfa_deals_cp932.csv": sales_deals_csv(deals, rng),
        "sales_monthly_long_utf16.csv": sales_long_utf16(deals),
        "marketing_monthly_summary_utf8.csv": marketing_summary(rng),
        "cs_kpi_wide_months_cp932.csv": cs_wide_months(rng),
        "hr_applicants.csv": hr_applicants(rng),
        "sales_sfa_deals_cp932.mapping.json": _json(SALES_MAPPING),
        "hr_applicants.mapping.json": _json(HR_MAPPING),
    }
    written = {}
    for name, data in files.items():
        path = out / name
        path.write_bytes(data)
        written[name] = path
    return written


def _json(mapping: dict) -> bytes:
    return (json.dumps(mapping, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT).values():
        print(f"{path}  {path.stat().st_size:,} bytes")

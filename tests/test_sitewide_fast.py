"""The site-wide pages' faster paths write what the Jinja they replaced wrote: the
dashboard's referral tree (dashboard.referral_tree_html) and the rows joined in Python
(cached_rows_html) instead of a {% for %} loop per row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st

from site_builder import rowcache
from site_builder.dashboard import referral_tree_html
from site_builder.render import make_environment

TODAY = date(2026, 11, 22)

# dashboard.html's tree before referral_tree_html (the reference for byte-identical output).
OLD_TREE = """  <ul class="tree">
  {% for node in summary.referral_tree recursive %}
    <li><a href="contacts/{{ node.slug | urlencode }}.html">{{ node.name }}</a>
      {% if node.value %}<span class="muted">&#32;· own {{ node.value | money_map }}</span>{% endif %}
      {% if node.brought_total %}<span class="muted">&#32;· brought {{ node.brought_total | money_map }}</span>{% endif %}
      {% if node.referred %}<ul>{{ loop(node.referred) }}</ul>{% endif %}</li>
  {% endfor %}
  </ul>"""
NEW_TREE = """  <ul class="tree">
{{ referral_tree_html(summary.referral_tree) }}  </ul>"""


def _env(tmp_path: Path, templates: dict[str, str]) -> jinja2.Environment:
    env = make_environment(tmp_path, TODAY)
    env.loader = jinja2.DictLoader(templates)
    return env


texts = st.text(alphabet=st.sampled_from(list("ab <>&\"'/%é张 #?")), max_size=8)
money = st.dictionaries(st.sampled_from(["EUR", "USD", "<X>"]),
                        st.decimals(min_value=0, max_value=10**6, places=2).map(str), max_size=2)


@st.composite
def nodes(draw: Any, depth: int = 3) -> dict[str, Any]:
    node: dict[str, Any] = {"slug": draw(texts), "name": draw(texts), "value": draw(money),
                            "brought_direct": {}, "brought_total": draw(money), "referred": []}
    if depth > 0:
        node["referred"] = draw(st.lists(nodes(depth - 1), max_size=3))
    for key in draw(st.sets(st.sampled_from(["name", "value", "brought_total", "referred"]), max_size=1)):
        del node[key]  # a missing field reads as the template's undefined
    return node


@settings(max_examples=200, deadline=None)
@given(st.lists(nodes(), max_size=4))
def test_referral_tree_html_writes_what_the_recursive_loop_wrote(tmp_path_factory: Any, tree: list[Any]) -> None:
    env = _env(tmp_path_factory.mktemp("t"), {"old": OLD_TREE, "new": NEW_TREE})
    summary = {"referral_tree": tree}
    assert env.get_template("new").render(summary=summary) == env.get_template("old").render(summary=summary)


def test_a_long_referral_chain_does_not_hit_the_recursion_limit() -> None:
    node: dict[str, Any] = {"slug": "last", "name": "Last", "value": {"EUR": Decimal(1)}, "referred": []}
    for n in range(5000):
        node = {"slug": f"p{n}", "name": f"P{n}", "value": {}, "brought_total": {}, "referred": [node]}
    html = referral_tree_html([node])
    assert html.count("<li>") == 5001 and html.count("</ul></li>") == 5000


# index.html, due.html and tag.html before cached_rows_html: a loop over cached_rows.
OLD_ROWS = """{% from "m" import row %}
<table>
  <tbody>
  {% for row_html in cached_rows(row, rows) %}
{{ row_html }}
  {% endfor %}
  </tbody>
  <tbody>
  {% for row_html in cached_rows(row, rows) %}
    {{ row_html }}
  {% endfor %}
  </tbody>
</table>
"""
NEW_ROWS = """{% from "m" import row %}
<table>
  <tbody>
{{ cached_rows_html(row, rows, after="\\n") }}  </tbody>
  <tbody>
{{ cached_rows_html(row, rows, before="    ", after="\\n") }}  </tbody>
</table>
"""
MACRO = "{% macro row(r) -%}<tr><td>{{ r.name }}</td></tr>{%- endmacro %}"


@given(st.lists(texts, max_size=5))
def test_cached_rows_html_writes_what_a_loop_over_cached_rows_wrote(tmp_path_factory: Any, names: list[str]) -> None:
    rows = [{"name": name, "contact": object()} for name in names]
    for cache in (None, rowcache.RowCache(None, "k")):
        env = _env(tmp_path_factory.mktemp("t"), {"old": OLD_ROWS, "new": NEW_ROWS, "m": MACRO})
        if cache is not None:
            env.globals["cached_rows"] = rowcache.cached_rows_global(cache)
            env.globals["cached_rows_html"] = rowcache.cached_rows_html_global(cache)
        assert env.get_template("new").render(rows=rows) == env.get_template("old").render(rows=rows)


def test_row_keys_depend_on_values_not_on_shared_strings() -> None:
    """Equal rows give equal bytes however their strings are shared (the pickle's memo
    made them differ), different rows differ, and a row that cannot be pickled neither
    gets a key nor spoils the next one's."""
    shared = "Acme Robotics"
    one = {"name": shared, "org_name": shared, "topics": ["a", "b"], "last": date(2026, 1, 2)}
    other = {"name": "Acme " + "Robotics", "org_name": "Acme Robotics", "topics": ["a", "b"], "last": date(2026, 1, 2)}
    before = rowcache.value_bytes(one)
    assert before is not None and before == rowcache.value_bytes(other)
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert rowcache.value_bytes(cyclic) is None and rowcache.value_bytes({"x": [lambda: 1]}) is None
    assert rowcache.value_bytes(one) == before
    assert rowcache.value_bytes({**one, "topics": ["a", "c"]}) != before
    assert rowcache.value_bytes({**one, "last": "2026-01-02"}) != before


def test_a_row_is_keyed_once_however_often_it_is_shown() -> None:
    cache = rowcache.RowCache(None, "k")
    row = {"name": "a", "contact": object()}
    digest = cache.row_digest(row)
    assert digest is not None and cache.row_digest(row) is digest
    assert cache.row_digest({"name": "a"}) == digest  # what a macro is given: without the contact
    assert cache.row_digest({"name": "b"}) != digest


def test_due_groups_keep_the_stats_order_and_put_unknown_reasons_last() -> None:
    """due_context groups in one pass: each section in the stats' order, items given as
    dicts or objects, an unknown or missing reason under Other."""
    from types import SimpleNamespace

    from conftest import SAMPLE_ROOT
    from site_builder.loader import load
    from site_builder.pages import DUE_SECTIONS, SiteInput, due_context

    crm = load(SAMPLE_ROOT, cache=False, workers=1).crm
    slugs = list(crm.contacts)
    items: list[Any] = [
        {"slug": slugs[0], "name": "A", "reason": "birthday", "date": "2026-11-25", "detail": "turns 40"},
        SimpleNamespace(slug=slugs[1], name="B", reason="follow-up", date="2026-11-20", detail="x"),
        {"slug": "nobody", "reason": "mystery"},
        SimpleNamespace(slug=slugs[2], name="C", reason="birthday", date="2026-11-23", detail="y"),
        {"slug": slugs[3], "name": "D"},
    ]
    due = SimpleNamespace(attention=items, over_contacted=[])
    context = due_context(SiteInput(crm=crm, problems=[], today=TODAY, due=due))
    groups = {g["reason"]: [i["name"] for i in g["items"]] for g in context["groups"]}
    assert list(groups) == [r for r, _ in DUE_SECTIONS] + ["other"]
    assert groups["birthday"] == ["A", "C"] and groups["follow-up"] == ["B"]
    assert groups["other"] == ["nobody", "D"]
    assert context["attention_count"] == 5
    other = context["groups"][-1]["items"]
    assert other[0]["href"] is None and other[0]["reason"] == "mystery" and other[1]["reason"] == ""
    # A build's due list is made by the process that renders the due page, once the
    # site-wide pages' process is forked (incremental.Later): the same page, made once.
    from site_builder.incremental import Later

    made = []
    later = Later(lambda: made.append(1) or due)
    site = SiteInput(crm=crm, problems=[], today=TODAY, due=later)
    assert not made
    assert due_context(site) == context == due_context(site) and made == [1]


def test_filter_options_do_not_depend_on_the_hash_seed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Values that fold alike (an org name in two cases, "Referral" and "referral") come
    out in one order whatever the process's hash seed: the directory page's bytes must
    not change from one build to the next."""
    import subprocess
    import sys as _sys

    script = (
        "from types import SimpleNamespace as N\n"
        "from site_builder.pages import filter_options\n"
        "rows = [dict(org_slug=s, org_name=n, source=src, topics=t, tier=None, status=None)\n"
        "        for s, n, src, t in [('a', 'Acme', 'Referral', ['Ml']), ('b', 'acme', 'referral', ['ml']),\n"
        "                             ('c', 'ACME', 'REFERRAL', ['ML']), ('d', 'Äcme', 'Référral', ['mL'])]]\n"
        "crm = N(contacts={'x': N(tags=['Vip', 'vip', 'VIP', 'Víp'])})\n"
        "print(filter_options(N(crm=crm), rows))\n"
    )
    outputs = {subprocess.run([_sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)}).stdout
               for seed in range(8)}
    assert len(outputs) == 1

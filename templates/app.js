/* crm directory: search as you type, filters, sorting, keyboard, state in the URL hash.
   No framework and no network: the data comes from search-data.js (window.CRM_DATA).
   User text only ever reaches the page through textContent and attribute setters. */
(function () {
  "use strict";
  var data = window.CRM_DATA;
  var table = document.getElementById("directory");
  var search = document.getElementById("search");
  if (!data || !table || !search) return;

  // Rows shown at once: laying out rows, not searching, is what a keystroke costs.
  var PAGE = 100;
  var FILTERS = ["tag", "org", "tier", "status", "source", "attention", "topic"];
  var HASH_KEYS = ["q"].concat(FILTERS, ["sort"]);
  var SORT_KEYS = ["name", "org", "title", "tier", "status", "last_touch", "touches", "next_due"];
  var SPECIAL = { "ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
                  "ı": "i", "ħ": "h", "ŧ": "t", "ŀ": "l" };
  var SPECIAL_RE = /[ßøæœłđðþıħŧŀ]/g;
  var MARKS_RE = /\p{Mn}/gu;

  // Same rules as site_data.fold() in Python: NFD, drop marks, lower-case, special letters.
  function fold(text) {
    return String(text).normalize("NFD").replace(MARKS_RE, "").toLowerCase()
      .replace(SPECIAL_RE, function (c) { return SPECIAL[c]; }).normalize("NFC");
  }

  var F = {};
  data.fields.forEach(function (name, i) { F[name] = i; });
  var tbody = table.tBodies[0];
  var countEl = document.getElementById("result-count");
  var moreButton = document.getElementById("show-more");
  var form = search.form;

  // One record per contact, each with its <tr> (the server-rendered one when present).
  var existing = {};
  Array.prototype.forEach.call(tbody.rows, function (tr) { existing[tr.getAttribute("data-slug")] = tr; });
  var records = data.rows.map(function (row) {
    var tr = existing[row[F.slug]] || buildRow(row);
    return {
      row: row, tr: tr, hay: row[F.haystack],
      tags: row[F.tags], topics: row[F.topics], attention: row[F.attention].split(" "),
      keys: {
        name: row[F.sort_name], org: fold(row[F.org_name]), title: fold(row[F.title]),
        tier: row[F.tier], status: row[F.status], last_touch: row[F.last_touch],
        touches: row[F.touches], next_due: row[F.next_due]
      }
    };
  });

  function cell(label, child) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    if (child) td.appendChild(child);
    return td;
  }
  function text(value) { return document.createTextNode(value == null ? "" : String(value)); }
  function link(href, label) {
    var a = document.createElement("a");
    a.setAttribute("href", href);
    a.textContent = label;
    return a;
  }
  function buildRow(row) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-slug", row[F.slug]);
    tr.appendChild(cell("Name", link("contacts/" + encodeURIComponent(row[F.slug]) + ".html", row[F.name])));
    tr.appendChild(cell("Org", row[F.org] ? link("orgs/" + encodeURIComponent(row[F.org]) + ".html", row[F.org_name]) : text("")));
    tr.appendChild(cell("Title", text(row[F.title])));
    tr.appendChild(cell("Tier", text(row[F.tier])));
    tr.appendChild(cell("Status", text(row[F.status])));
    tr.appendChild(cell("Last touch", text(row[F.last_touch_words])));
    var touches = cell("Touches", text(row[F.touches]));
    touches.className = "num";
    tr.appendChild(touches);
    tr.appendChild(cell("Next due", text(row[F.next_due_words])));
    return tr;
  }

  // --- state <-> URL hash ------------------------------------------------------------------
  var state = emptyState();
  var limit = PAGE;
  var visible = [];
  var selected = -1;
  var lastHash = null;

  function emptyState() {
    var s = { q: "", sort: "name" };
    FILTERS.forEach(function (k) { s[k] = ""; });
    return s;
  }
  function readHash() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var s = emptyState();
    HASH_KEYS.forEach(function (k) { if (params.has(k)) s[k] = params.get(k); });
    if (SORT_KEYS.indexOf(s.sort.replace(/^-/, "")) < 0) s.sort = "name";
    return s;
  }
  function hashOf(s) {
    var params = new URLSearchParams();
    HASH_KEYS.forEach(function (k) {
      if (s[k] && !(k === "sort" && s[k] === "name")) params.set(k, s[k]);
    });
    return params.toString().replace(/\+/g, "%20");
  }
  function writeHash() {
    var h = hashOf(state);
    lastHash = h;
    if (location.hash.replace(/^#/, "") === h) return;
    var url = location.pathname + location.search + (h ? "#" + h : "");
    try { history.replaceState(null, "", url); } catch (e) { location.replace("#" + h); }
  }
  function showState() {
    search.value = state.q;
    FILTERS.forEach(function (k) {
      var select = document.getElementById("filter-" + k);
      if (!select) return;
      if (state[k] && !Array.prototype.some.call(select.options, function (o) { return o.value === state[k]; })) {
        var option = document.createElement("option");
        option.value = state[k];
        option.textContent = state[k];
        select.appendChild(option);
      }
      select.value = state[k];
    });
    var key = state.sort.replace(/^-/, "");
    var dir = state.sort.charAt(0) === "-" ? "descending" : "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var button = th.querySelector("button[data-sort]");
      if (!button) return;
      if (button.getAttribute("data-sort") === key) th.setAttribute("aria-sort", dir);
      else th.removeAttribute("aria-sort");
    });
  }

  // --- filtering and sorting ------------------------------------------------------------------
  var orders = {};
  function compareKeys(key, desc) {
    return function (a, b) {
      var x = a.keys[key], y = b.keys[key];
      var emptyX = x === "" || x == null, emptyY = y === "" || y == null;
      if (emptyX !== emptyY) return emptyX ? 1 : -1;  // empty values last, either way
      var c = 0;
      if (!emptyX) c = typeof x === "number" ? x - y : (x < y ? -1 : x > y ? 1 : 0);
      if (desc) c = -c;
      if (c === 0) c = a.keys.name < b.keys.name ? -1 : a.keys.name > b.keys.name ? 1 : 0;
      return c;
    };
  }
  function ordered(sort) {
    if (!orders[sort]) {
      var desc = sort.charAt(0) === "-";
      orders[sort] = records.slice().sort(compareKeys(sort.replace(/^-/, ""), desc));
    }
    return orders[sort];
  }
  function matches(r, terms) {
    for (var i = 0; i < terms.length; i++) if (r.hay.indexOf(terms[i]) < 0) return false;
    if (state.tag && r.tags.indexOf(state.tag) < 0) return false;
    if (state.topic && r.topics.indexOf(state.topic) < 0) return false;
    if (state.org && r.row[F.org] !== state.org) return false;
    if (state.tier && r.row[F.tier] !== state.tier) return false;
    if (state.status && r.row[F.status] !== state.status) return false;
    if (state.source && r.row[F.source] !== state.source) return false;
    if (state.attention && r.attention.indexOf(state.attention) < 0) return false;
    return true;
  }
  function apply() {
    var terms = fold(state.q).split(/\s+/).filter(Boolean);
    var all = ordered(state.sort);
    var found = [];
    for (var i = 0; i < all.length; i++) if (matches(all[i], terms)) found.push(all[i]);
    var shown = found.length > limit ? found.slice(0, limit) : found;
    visible.forEach(function (r) { r.tr.classList.remove("selected"); r.tr.removeAttribute("aria-selected"); });
    if (!sameRows(shown, visible)) {  // e.g. "hambu" after "hamb": nothing to lay out again
      var fragment = document.createDocumentFragment();
      shown.forEach(function (r) { fragment.appendChild(r.tr); });
      tbody.replaceChildren(fragment);
    }
    visible = shown;
    selected = -1;
    var total = records.length;
    var noun = found.length === 1 ? " contact" : " contacts";
    var message = found.length + noun;
    if (found.length < total) message += " (of " + total + ")";
    if (shown.length < found.length) message += ", showing the first " + shown.length;
    countEl.textContent = message;
    if (moreButton) {
      moreButton.hidden = shown.length >= found.length;
      moreButton.textContent = "Show " + Math.min(PAGE, found.length - shown.length) + " more";
    }
  }
  function sameRows(a, b) {
    if (a.length !== b.length || tbody.rows.length !== a.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function update(changes) {
    for (var k in changes) state[k] = changes[k];
    limit = PAGE;
    apply();
    writeHash();
  }

  // --- keyboard ----------------------------------------------------------------------------------
  function select(index) {
    if (!visible.length) return;
    if (selected >= 0 && visible[selected]) {
      visible[selected].tr.classList.remove("selected");
      visible[selected].tr.removeAttribute("aria-selected");
    }
    selected = Math.max(0, Math.min(index, visible.length - 1));
    var tr = visible[selected].tr;
    tr.classList.add("selected");
    tr.setAttribute("aria-selected", "true");
    if (tr.scrollIntoView) tr.scrollIntoView({ block: "nearest" });
  }
  function openSelected() {
    if (selected < 0 || !visible[selected]) return false;
    var a = visible[selected].tr.querySelector("a[href]");
    if (a) location.href = a.href;
    return !!a;
  }

  search.addEventListener("input", function () { update({ q: search.value }); });
  search.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") { event.preventDefault(); select(selected + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); select(selected - 1); }
    else if (event.key === "Enter") {
      if (selected < 0 && visible.length) select(0);
      if (openSelected()) event.preventDefault();
    } else if (event.key === "Escape" && search.value) { update({ q: "" }); search.value = ""; }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var t = event.target;
    var tag = t && t.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) return;
    event.preventDefault();
    search.focus();
    search.select();
  });
  FILTERS.forEach(function (k) {
    var el = document.getElementById("filter-" + k);
    if (el) el.addEventListener("change", function () { var c = {}; c[k] = el.value; update(c); });
  });
  Array.prototype.forEach.call(table.querySelectorAll("button[data-sort]"), function (button) {
    button.addEventListener("click", function () {
      var key = button.getAttribute("data-sort");
      var sort = state.sort === key ? "-" + key : key;
      update({ sort: sort });
      showState();
    });
  });
  if (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("reset", function () {
      setTimeout(function () { state = emptyState(); limit = PAGE; showState(); apply(); writeHash(); }, 0);
    });
  }
  if (moreButton) moreButton.addEventListener("click", function () { limit += PAGE; apply(); });
  window.addEventListener("hashchange", function () {
    if (location.hash.replace(/^#/, "") === lastHash) return;
    state = readHash(); limit = PAGE; showState(); apply();
  });

  state = readHash();
  lastHash = hashOf(state);
  showState();
  apply();
  // On a phone the filters start folded away (unless one is in use), so the list is on
  // the first screen; without JavaScript they stay open.
  var filters = document.getElementById("filters");
  if (filters && window.matchMedia && window.matchMedia("(max-width: 700px)").matches &&
      !FILTERS.some(function (k) { return state[k]; })) {
    filters.open = false;
  }
})();

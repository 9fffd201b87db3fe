"""site-status.js: the build's problem totals for the contact and org pages.

Contact and org pages do not contain the problem totals (nor the contact/org counts):
if they did, adding a contact or a warning anywhere would change, and re-render, every
page. Each of them loads this one small script instead, which puts the same banner the
site-wide pages render ("N problems in your files ...") above <main> and the link to
problems.html into the footer. Every value goes into the page with textContent, never
as markup. Without JavaScript those pages show no banner; the directory, due, dashboard,
tag, changes and problems pages still show it from the server side.
"""

from __future__ import annotations

import json

SITE_STATUS_FILE = "site-status.js"
SITE_STATUS_PREFIX = "window.CRM_STATUS = "

# Runs where base.html includes the script: right before <main>. The page's way back to
# the site root is the script's own src without the file name.
_RENDER = r"""(function () {
  var s = window.CRM_STATUS, me = document.currentScript;
  if (!s || !me || !s.total) return;
  var base = (me.getAttribute("src") || "").replace(/site-status\.js$/, "");
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function el(tag, text) { var e = document.createElement(tag); e.textContent = text; return e; }
  function listLink(text) { var a = el("a", text); a.setAttribute("href", base + "problems.html"); return a; }
  if (s.errors) {
    var banner = document.createElement("div");
    banner.className = "banner";
    banner.setAttribute("role", "alert");
    banner.append(plural(s.total, "problem") + " in your files (" + plural(s.errors, "error") + ", " +
                  plural(s.warnings, "warning") + "): run ", el("code", "crm check"), " or ",
                  listLink("see the list"), ". Files that could not be read are missing from this site.");
    me.parentNode.insertBefore(banner, me);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var footer = document.querySelector(".site-footer p") || document.querySelector("footer");
    if (footer) footer.append(" ", listLink(plural(s.total, "problem") + " in your files"), ".");
  });
})();
"""


def site_status_js(errors: int, warnings: int) -> str:
    totals = {"errors": errors, "warnings": warnings, "total": errors + warnings}
    return SITE_STATUS_PREFIX + json.dumps(totals, separators=(",", ":")) + ";\n" + _RENDER

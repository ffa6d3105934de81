(function () {
  "use strict";
  // Filters, search and collapse-all for report.html. State lives in the URL fragment
  // ("#f:s=failed&l=must&q=tls") so a filtered view can be shared. No data is read from the
  // page except class names from a fixed vocabulary and text for the search.
  var d = document, tools = d.getElementById("tools");
  if (!tools) { return; }
  tools.hidden = false;
  var items = Array.prototype.slice.call(d.querySelectorAll("details.card, details.chk"));
  var level = d.getElementById("t-level"), q = d.getElementById("t-q"), count = d.getElementById("t-count");
  var st = {s: "", l: "", q: ""};
  function parse() {
    var h = location.hash;
    if (h.indexOf("#f:") !== 0) { return false; }
    st = {s: "", l: "", q: ""};
    h.slice(3).split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0 && Object.prototype.hasOwnProperty.call(st, kv.slice(0, i))) {
        try { st[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1)); } catch (e) { /* a bad escape: ignore */ }
      }
    });
    return true;
  }
  function write() {
    var p = [];
    Object.keys(st).forEach(function (k) { if (st[k]) { p.push(k + "=" + encodeURIComponent(st[k])); } });
    history.replaceState(null, "", p.length ? "#f:" + p.join("&") : location.pathname + location.search);
  }
  function matches(el) {
    var c = el.classList, text;
    if (st.s === "problems" ? !(c.contains("s-failed") || c.contains("s-error")) : st.s && !c.contains("s-" + st.s)) { return false; }
    if (st.l && !c.contains("l-" + st.l)) { return false; }
    if (!st.q) { return true; }
    text = el.querySelector("summary");
    return (text ? text.textContent : "").toLowerCase().indexOf(st.q.toLowerCase()) >= 0;
  }
  function apply() {
    var cards = 0, rows = 0;
    items.forEach(function (el) {
      var ok = matches(el);
      el.classList.toggle("hide", !ok);
      if (ok) { if (el.classList.contains("card")) { cards++; } else { rows++; } }
    });
    Array.prototype.forEach.call(d.querySelectorAll("h3.sev"), function (h) {
      var el = h.nextElementSibling, any = false;
      while (el && el.classList.contains("card")) { any = any || !el.classList.contains("hide"); el = el.nextElementSibling; }
      h.classList.toggle("hide", !any);
    });
    Array.prototype.forEach.call(tools.querySelectorAll("button[data-s]"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-s") === st.s));
    });
    level.value = st.l;
    if (q.value !== st.q) { q.value = st.q; }
    count.textContent = (st.s || st.l || st.q) ? cards + " cards, " + rows + " rows match" : "";
  }
  function openTarget() {
    var h = location.hash, el;
    if (h.length < 2 || h.indexOf("#f:") === 0) { return; }
    el = d.getElementById(h.slice(1));
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  tools.addEventListener("click", function (ev) {
    var b = ev.target.closest("button");
    if (!b) { return; }
    if (b.hasAttribute("data-s")) { st.s = b.getAttribute("data-s"); write(); apply(); }
    if (b.id === "t-open" || b.id === "t-close") {
      Array.prototype.forEach.call(d.querySelectorAll("details.card, details.card details.tx-box"), function (el) {
        if (!el.classList.contains("hide")) { el.open = b.id === "t-open"; }
      });
    }
  });
  level.addEventListener("change", function () { st.l = level.value; write(); apply(); });
  q.addEventListener("input", function () { st.q = q.value; write(); apply(); });
  window.addEventListener("hashchange", function () { if (parse()) { apply(); } else { openTarget(); } });
  if (parse()) { apply(); } else { openTarget(); }
}());

// replaytest history page. Hand-written, no build step, no network.
// History text is data: every string reaches the page through textContent, never as markup.
"use strict";
(function () {
  var DATA = JSON.parse(document.getElementById("replaytest-data").textContent);
  var ROW_H = 22, LANE_H = 22, LANES_MAX_H = 352, LIST_H = 440, BUFFER = 8;
  var KINDS = ["workflow", "workflow_task", "activity", "timer", "child", "signal", "marker", "other"];
  var KIND_NAMES = { workflow: "workflow", workflow_task: "workflow tasks", activity: "activities", timer: "timers",
    child: "child workflows", signal: "signals / updates", marker: "markers", other: "other" };

  function failed(outcome) { return outcome !== "passed" && outcome !== "not_replayed"; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtTime(t) {
    if (t === null || t === undefined) return "";
    var d = new Date(t * 1000);
    return isNaN(d.getTime()) ? "" : d.toISOString().replace("T", " ").replace("Z", "");
  }

  function fmtSpan(s) {
    if (!(s >= 0)) return "";
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 120) return (Math.round(s * 10) / 10) + " s";
    if (s < 7200) return (Math.round(s / 6) / 10) + " min";
    if (s < 172800) return (Math.round(s / 360) / 10) + " h";
    return (Math.round(s / 8640) / 10) + " days";
  }

  function jsonText(value) {
    try { return JSON.stringify(value, null, 2); } catch (e) { return String(value); }
  }

  // ------------------------------------------------------------------ one history
  function HistoryView(section, root) {
    this.s = section;
    this.v = section.verdict || { outcome: "not_replayed", label: "history only" };
    this.tl = section.timeline;
    this.root = root;
    this.body = null;
    this.selected = null;
    this.open = false;
    this.buildHead();
  }

  HistoryView.prototype.searchText = function () {
    var s = this.s, tl = this.tl || {};
    return [s.workflow_id, s.workflow_type, s.file, s.backend, tl.status, this.v.label, this.v.title || "",
      this.v.report || "", s.error || ""].join("\n").toLowerCase();
  };

  HistoryView.prototype.buildHead = function () {
    var s = this.s, v = this.v, tl = this.tl, self = this;
    var sec = el("section", "history o-" + v.outcome + (failed(v.outcome) ? " failed" : ""));
    sec.dataset.outcome = v.outcome;
    sec.dataset.workflowType = s.workflow_type || "";
    var head = el("div", "hhead");
    head.setAttribute("role", "button");
    head.tabIndex = 0;
    this.caret = el("span", "caret", "\u25B8");
    head.appendChild(this.caret);
    head.appendChild(el("span", "badge o-" + v.outcome + (failed(v.outcome) ? " fail" : ""), v.label));
    head.appendChild(el("span", "wid", s.workflow_id || "(no workflow id)"));
    head.appendChild(el("span", "meta wtype", s.workflow_type || ""));
    head.appendChild(el("span", "meta backend", s.backend));
    if (tl) {
      head.appendChild(el("span", "meta status", tl.status));
      head.appendChild(el("span", "meta count", tl.events.length + " events"));
      var t = this.timeRange();
      if (t) head.appendChild(el("span", "meta", fmtTime(t[0]) + " \u2192 " + fmtTime(t[1]) + " (" + fmtSpan(t[1] - t[0]) + ")"));
    }
    head.appendChild(el("span", "meta mono", s.file));
    head.addEventListener("click", function () { self.toggle(); });
    head.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); self.toggle(); } });
    sec.appendChild(head);
    this.sec = sec;
    this.root.appendChild(sec);
  };

  HistoryView.prototype.timeRange = function () {
    var ev = this.tl ? this.tl.events : [], lo = null, hi = null;
    for (var i = 0; i < ev.length; i++) {
      var t = ev[i][1];
      if (t === null || t === undefined) continue;
      if (lo === null || t < lo) lo = t;
      if (hi === null || t > hi) hi = t;
    }
    return lo === null ? null : [lo, hi];
  };

  HistoryView.prototype.toggle = function (force) {
    this.open = force === undefined ? !this.open : force;
    this.caret.textContent = this.open ? "\u25BE" : "\u25B8";
    if (this.open && !this.body) this.buildBody();
    if (this.body) this.body.classList.toggle("hidden", !this.open);
    if (this.open) this.refresh();
  };

  HistoryView.prototype.buildBody = function () {
    var body = el("div", "hbody");
    this.body = body;
    this.sec.appendChild(body);
    var s = this.s, tl = this.tl;
    if (tl) {
      var facts = el("div", "facts");
      var rows = [["run", tl.run_id], ["file", s.file]].concat(tl.facts || []);
      rows.forEach(function (r) {
        if (!r[1]) return;
        var f = el("span", "fact");
        f.appendChild(el("span", "k", r[0]));
        f.appendChild(el("span", "mono", r[1]));
        facts.appendChild(f);
      });
      body.appendChild(facts);
    }
    this.prepare();
    this.buildVerdict(body);
    if (s.error) body.appendChild(el("div", "error-box", s.error));
    if (tl) {
      this.buildTimeline(body);
      this.buildEvents(body);
    }
  };

  // event index, the divergence, warnings by event
  HistoryView.prototype.prepare = function () {
    var tl = this.tl, v = this.v, self = this;
    this.index = new Map();
    this.warned = new Map();
    this.divIdx = -1;
    if (!tl) return;
    tl.events.forEach(function (e, i) { self.index.set(e[0], i); });
    if (v.outcome === "divergence" || v.outcome === "workflow_task_error") {
      if (v.event_id !== null && v.event_id !== undefined && this.index.has(v.event_id)) this.divIdx = this.index.get(v.event_id);
      else if (v.outcome === "divergence") this.divIdx = tl.events.length; // after the last event
    }
    (v.warnings || []).forEach(function (w) {
      if (w[0] !== null && self.index.has(w[0])) {
        var i = self.index.get(w[0]);
        if (!self.warned.has(i)) self.warned.set(i, []);
        self.warned.get(i).push(w[1]);
      }
    });
    var t = this.timeRange();
    this.t0 = t ? t[0] : 0;
    this.span = t ? t[1] - t[0] : 0;
    this.mode = this.span > 0 ? "time" : "sequence";
  };

  HistoryView.prototype.eventLink = function (id, text) {
    var self = this, a = el("a", "ev", text || ("event " + id));
    a.href = "#";
    a.addEventListener("click", function (e) { e.preventDefault(); self.select(id, true); });
    return a;
  };

  HistoryView.prototype.buildVerdict = function (body) {
    var v = this.v, self = this;
    if (v.outcome === "passed") {
      var ok = el("div", "passed-box", v.summary || "replayed");
      body.appendChild(ok);
    } else if (failed(v.outcome)) {
      var box = el("div", "verdict");
      var at = (v.event_id !== null && v.event_id !== undefined) ? " at history event " + v.event_id : (v.outcome === "divergence" ? " after the last history event" : "");
      var h = el("h3", null, (v.outcome === "divergence" ? "Nondeterminism" : v.label.charAt(0).toUpperCase() + v.label.slice(1)) + at + (v.title ? ": " + v.title : ""));
      box.appendChild(h);
      if (v.recorded || v.issued) {
        var sides = el("div", "sides");
        [["history recorded", v.recorded, "rec"], ["code issued", v.issued, "iss"]].forEach(function (side) {
          var d = el("div", "side " + side[2]);
          d.appendChild(el("h4", null, side[0]));
          var m = el("div", "mono");
          (side[1] || []).forEach(function (seg) { m.appendChild(seg[1] ? el("mark", side[2], seg[0]) : document.createTextNode(seg[0])); });
          d.appendChild(m);
          sides.appendChild(d);
        });
        box.appendChild(sides);
      }
      if (v.detail) box.appendChild(el("div", "where", v.detail));
      if (v.source) {
        var src = v.source;
        box.appendChild(el("div", "where mono", "at " + src.file + ":" + src.line + " in " + src.function));
        if (src.lines && src.lines.length) {
          var pre = el("pre", "code");
          src.lines.forEach(function (ln) {
            var line = el("span", "ln" + (ln[0] === src.line ? " hit" : ""));
            line.appendChild(el("span", "n", ln[0]));
            line.appendChild(document.createTextNode(ln[1]));
            pre.appendChild(line);
          });
          box.appendChild(pre);
        }
      }
      if (v.notes && v.notes.length) {
        var ul = el("ul");
        v.notes.forEach(function (n) { ul.appendChild(el("li", null, "note: " + n)); });
        box.appendChild(ul);
      }
      if (v.advice) box.appendChild(el("div", "advice", "What to do: " + v.advice + "."));
      if (this.tl && this.divIdx >= 0 && this.divIdx < this.tl.events.length) {
        var p = el("div", "where");
        p.appendChild(this.eventLink(this.tl.events[this.divIdx][0], "show event " + this.tl.events[this.divIdx][0] + " in the list"));
        if (v.matched) p.appendChild(document.createTextNode(" \u00B7 the " + v.matched + " events before it matched (greyed in the list)"));
        box.appendChild(p);
      }
      body.appendChild(box);
    }
    if (v.warnings && v.warnings.length) {
      var w = el("div", "warnings");
      w.appendChild(el("strong", null, v.warnings.length + " warning" + (v.warnings.length > 1 ? "s" : "")));
      var list = el("ul");
      v.warnings.forEach(function (item) {
        var li = el("li");
        if (item[0] !== null && self.index.has(item[0])) { li.appendChild(self.eventLink(item[0])); li.appendChild(document.createTextNode(": ")); }
        li.appendChild(document.createTextNode(item[1]));
        list.appendChild(li);
      });
      w.appendChild(list);
      body.appendChild(w);
    }
    if (v.report) {
      var det = el("details", "report");
      det.appendChild(el("summary", null, "the report as text"));
      det.appendChild(el("pre", null, v.report));
      body.appendChild(det);
    }
  };

  // ------------------------------------------------------------------ timeline
  HistoryView.prototype.x = function (idx) {
    var ev = this.tl.events, n = ev.length;
    if (idx >= n) return 1;
    if (this.mode === "time") {
      var t = ev[idx][1];
      if (t !== null && t !== undefined) return (t - this.t0) / this.span;
    }
    return n > 1 ? idx / (n - 1) : 0;
  };

  HistoryView.prototype.buildTimeline = function (body) {
    var self = this, tl = this.tl;
    var tools = el("div", "tools");
    tools.appendChild(el("h3", null, "Timeline"));
    tools.appendChild(el("span", null, tl.lanes.length + " rows"));
    var axisSel = el("select", "axis-mode");
    [["time", "time axis"], ["sequence", "event order"]].forEach(function (o) {
      var opt = el("option", null, o[1]); opt.value = o[0]; axisSel.appendChild(opt);
    });
    axisSel.value = this.mode;
    if (!(this.span > 0)) axisSel.disabled = true;
    axisSel.addEventListener("change", function () { self.mode = axisSel.value; self.renderAxis(); self.renderLanes(); });
    tools.appendChild(axisSel);
    var legend = el("span", "legend");
    var present = {};
    tl.lanes.forEach(function (l) { present[l[0]] = true; });
    KINDS.forEach(function (k) {
      if (!present[k]) return;
      var item = el("span"), sw = el("i");
      sw.style.background = "var(--k-" + k + ")";
      item.appendChild(sw); item.appendChild(document.createTextNode(KIND_NAMES[k]));
      legend.appendChild(item);
    });
    tools.appendChild(legend);
    body.appendChild(tools);
    var box = el("div", "timeline");
    this.axis = el("div", "axis");
    box.appendChild(this.axis);
    var lanes = el("div", "lanes");
    lanes.style.height = Math.min(LANES_MAX_H, Math.max(1, tl.lanes.length) * LANE_H + 2) + "px";
    var spacer = el("div");
    spacer.style.height = tl.lanes.length * LANE_H + "px";
    lanes.appendChild(spacer);
    this.laneLayer = el("div");
    lanes.appendChild(this.laneLayer);
    this.markLayer = el("div");
    lanes.appendChild(this.markLayer);
    lanes.addEventListener("scroll", function () { self.renderLanes(); });
    box.appendChild(lanes);
    this.lanesBox = lanes;
    body.appendChild(box);
  };

  HistoryView.prototype.renderAxis = function () {
    var axis = this.axis, n = this.tl.events.length;
    axis.replaceChildren();
    var ticks = 6;
    for (var i = 0; i <= ticks; i++) {
      var f = i / ticks, label;
      if (this.mode === "time") label = i > 0 ? "+" + fmtSpan(f * this.span) : fmtTime(this.t0).slice(this.span < 86400 ? 11 : 0, this.span < 86400 ? 19 : 10);
      else label = "event " + (this.tl.events[Math.min(n - 1, Math.round(f * (n - 1)))] || [""])[0];
      var t = el("span", "tick" + (i === 0 ? " first" : i === ticks ? " last" : ""), label);
      t.style.left = (f * 100) + "%";
      axis.appendChild(t);
    }
  };

  HistoryView.prototype.renderLanes = function () {
    var tl = this.tl, box = this.lanesBox, self = this;
    if (!box || !this.open) return;
    var top = box.scrollTop, height = box.clientHeight || LANES_MAX_H;
    var first = Math.max(0, Math.floor(top / LANE_H) - BUFFER);
    var last = Math.min(tl.lanes.length, Math.ceil((top + height) / LANE_H) + BUFFER);
    var width = Math.max(1, box.clientWidth - 268);
    var rows = [];
    for (var i = first; i < last; i++) {
      var lane = tl.lanes[i];
      var row = el("div", "lane k-" + lane[0]);
      row.style.top = (i * LANE_H) + "px";
      var label = el("div", "lane-label", lane[1]);
      label.title = lane[1];
      row.appendChild(label);
      var track = el("div", "track");
      var lastPx = -1, lastStatus = null;
      lane[2].forEach(function (b) {
        var si = self.index.get(b[0]);
        if (si === undefined) return;
        var ei = b[1] === null ? tl.events.length : self.index.get(b[1]);
        if (ei === undefined) ei = si;
        var x1 = self.x(si), x2 = self.x(ei);
        var px = Math.round(x1 * width);
        var hit = self.divIdx >= 0 && (si === self.divIdx || ei === self.divIdx ||
          (lane[0] !== "workflow" && self.divIdx > si && self.divIdx < ei));
        if (px === lastPx && b[2] === lastStatus && !hit) return; // the same pixel: one bar shows it
        lastPx = px; lastStatus = b[2];
        var point = b[2] === "point" || (b[1] !== null && b[0] === b[1]);
        var bar = el("div", "bar s-" + b[2] + (point ? " point" : "") + (hit ? " diverged" : ""));
        bar.style.left = (x1 * 100) + "%";
        if (!point) bar.style.width = (Math.max(0, x2 - x1) * 100) + "%";
        var endType = b[1] === null ? "(open at the end of the history)" : (tl.events[ei] || [])[2];
        bar.title = lane[1] + (b[3] ? " \u00B7 " + b[3] : "") + "\nevent " + b[0] + " " + tl.events[si][2] +
          (point ? "" : " \u2192 " + (b[1] === null ? "" : "event " + b[1] + " ") + endType);
        bar.dataset.event = String(b[0]);
        bar.addEventListener("click", function (e) { e.stopPropagation(); self.select(b[0], true); });
        track.appendChild(bar);
      });
      row.appendChild(track);
      rows.push(row);
    }
    this.laneLayer.replaceChildren.apply(this.laneLayer, rows);
    this.renderMarks(top, height);
  };

  HistoryView.prototype.renderMarks = function (top, height) {
    var marks = [], self = this, full = Math.max(this.tl.lanes.length * LANE_H, height);
    function line(idx, cls, text) {
      var m = el("div", "marker-line" + cls);
      m.style.left = "calc(260px + (100% - 268px) * " + self.x(idx) + ")";
      m.style.height = full + "px";
      var tag = el("span", null, text);
      tag.style.top = top + "px";
      if (self.x(idx) > 0.8) { tag.style.left = "auto"; tag.style.right = "3px"; }
      m.appendChild(tag);
      marks.push(m);
    }
    this.warned.forEach(function (texts, idx) { line(idx, " warn", "warning @" + self.tl.events[idx][0]); });
    if (this.divIdx >= 0) {
      var id = this.divIdx < this.tl.events.length ? this.tl.events[this.divIdx][0] : "end";
      line(this.divIdx, "", (this.v.outcome === "divergence" ? "diverges @" : "fails @") + id);
    }
    this.markLayer.replaceChildren.apply(this.markLayer, marks);
  };

  // ------------------------------------------------------------------ event list
  HistoryView.prototype.buildEvents = function (body) {
    var self = this, tl = this.tl;
    var tools = el("div", "tools");
    tools.appendChild(el("h3", null, "Events"));
    tools.appendChild(el("span", null, tl.events.length + " events; click a row or a bar for its details"));
    body.appendChild(tools);
    var wrap = el("div", "events-wrap");
    var list = el("div", "list"), height = Math.min(LIST_H, tl.events.length * ROW_H + 2) + "px";
    list.style.height = height;
    list.setAttribute("role", "list");
    var spacer = el("div");
    spacer.style.height = tl.events.length * ROW_H + "px";
    list.appendChild(spacer);
    this.rowLayer = el("div");
    list.appendChild(this.rowLayer);
    list.addEventListener("scroll", function () { self.renderRows(); });
    wrap.appendChild(list);
    this.detail = el("div", "detail");
    this.detail.style.height = Math.max(160, parseInt(height, 10)) + "px";
    this.detail.appendChild(el("div", "empty", "Select an event"));
    wrap.appendChild(this.detail);
    body.appendChild(wrap);
    this.list = list;
  };

  HistoryView.prototype.renderRows = function () {
    var list = this.list, ev = this.tl.events, self = this;
    if (!list || !this.open) return;
    var top = list.scrollTop, height = list.clientHeight || LIST_H;
    var first = Math.max(0, Math.floor(top / ROW_H) - BUFFER);
    var last = Math.min(ev.length, Math.ceil((top + height) / ROW_H) + BUFFER);
    var rows = [];
    for (var i = first; i < last; i++) {
      var e = ev[i];
      var cls = "row k-" + e[4];
      if (this.divIdx >= 0 && i < this.divIdx) cls += " matched";
      if (i === this.divIdx) cls += " diverged";
      if (this.warned.has(i)) cls += " warned";
      if (this.selected === i) cls += " selected";
      var row = el("div", cls);
      row.style.top = (i * ROW_H) + "px";
      row.dataset.event = String(e[0]);
      row.setAttribute("role", "listitem");
      row.appendChild(el("span", "dot"));
      row.appendChild(el("span", "id", e[0]));
      row.appendChild(el("span", "time", fmtTime(e[1])));
      row.appendChild(el("span", "type", e[2]));
      var said = e[3].indexOf(e[2]) === 0 ? e[3].slice(e[2].length).trim() : e[3]; // the type has its column
      var here = this.v.outcome === "divergence" ? "\u2190 diverges here \u00B7 " : "\u2190 fails here \u00B7 ";
      var text = (i === this.divIdx ? here : "") + (this.warned.has(i) ? "\u26A0 " : "") + said;
      row.appendChild(el("span", "text", text));
      row.title = e[3];
      (function (idx) { row.addEventListener("click", function () { self.select(ev[idx][0], false); }); })(i);
      rows.push(row);
    }
    this.rowLayer.replaceChildren.apply(this.rowLayer, rows);
  };

  HistoryView.prototype.select = function (id, scroll) {
    if (!this.open) this.toggle(true);
    var i = this.index.get(id);
    if (i === undefined) return;
    this.selected = i;
    if (scroll) {
      var list = this.list, want = i * ROW_H - Math.max(0, (list.clientHeight - ROW_H) / 2);
      list.scrollTop = Math.max(0, want);
      list.scrollIntoView({ block: "nearest" });
    }
    this.renderRows();
    this.showDetail(i);
  };

  HistoryView.prototype.showDetail = function (i) {
    var e = this.tl.events[i], d = this.detail;
    d.replaceChildren();
    d.appendChild(el("h4", null, "event " + e[0] + " \u00B7 " + e[2]));
    if (e[1] !== null && e[1] !== undefined) d.appendChild(el("div", "mono", fmtTime(e[1]) + " UTC"));
    d.appendChild(el("p", null, e[3]));
    if (i === this.divIdx) d.appendChild(el("p", "error-box", "The replay diverged here: " + (this.v.title || this.v.label)));
    (this.warned.get(i) || []).forEach(function (w) { d.appendChild(el("p", "warnings", "warning: " + w)); });
    d.appendChild(el("pre", null, jsonText(e[5])));
  };

  HistoryView.prototype.refresh = function () {
    if (!this.tl || !this.open) return;
    this.renderAxis();
    this.renderLanes();
    this.renderRows();
  };

  // ------------------------------------------------------------------ the page
  var root = document.getElementById("sections");
  var views = DATA.sections.map(function (s) { return new HistoryView(s, root); });
  var failures = views.filter(function (v) { return failed(v.v.outcome); }).length;
  var passes = views.filter(function (v) { return v.v.outcome === "passed"; }).length;
  views.forEach(function (v) { if (views.length === 1 || failed(v.v.outcome)) v.toggle(true); });
  if (!views.length) root.appendChild(el("div", "empty", "No histories."));

  var fVerdict = document.getElementById("f-verdict"), fType = document.getElementById("f-type"), fText = document.getElementById("f-text");
  var types = Array.from(new Set(views.map(function (v) { return v.s.workflow_type || ""; }))).filter(Boolean).sort();
  types.forEach(function (t) { var o = el("option", null, t); o.value = t; fType.appendChild(o); });
  var summary = document.getElementById("summary");

  function applyFilters() {
    var verdict = fVerdict.value, type = fType.value, text = fText.value.trim().toLowerCase(), shown = 0;
    views.forEach(function (v) {
      var o = v.v.outcome;
      var ok = (verdict === "all" || (verdict === "failed" ? failed(o) : o === verdict)) &&
        (!type || v.s.workflow_type === type) && (!text || v.searchText().indexOf(text) >= 0);
      v.sec.classList.toggle("hidden", !ok);
      if (ok) { shown++; if (v.open) v.refresh(); }
    });
    var parts = [views.length + (views.length === 1 ? " history" : " histories")];
    if (failures) parts.push(failures + " failed");
    if (passes) parts.push(passes + " passed");
    if (shown !== views.length) parts.push("showing " + shown);
    summary.textContent = parts.join(" \u00B7 ");
  }
  fVerdict.addEventListener("change", applyFilters);
  fType.addEventListener("change", applyFilters);
  fText.addEventListener("input", applyFilters);
  window.addEventListener("resize", function () { views.forEach(function (v) { v.refresh(); }); });
  applyFilters();
  document.body.dataset.ready = "1";
})();

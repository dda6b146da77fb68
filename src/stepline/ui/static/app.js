/* stepline UI islands: metric charts (uPlot), the lineage graph (cytoscape), sortable tables.
   Everything else is server-rendered HTML with htmx. No build step. */
(function () {
  "use strict";
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function fmt(v) {
    if (v == null) return "";
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(4));
  }

  /* ---------- charts ---------- */
  function chartUrl(el, lo, hi) {
    var w = Math.max(200, el.clientWidth || 400);
    var q = new URLSearchParams({ key: el.dataset.key, runs: el.dataset.runs, points: String(Math.min(2000, Math.round(w * 2))) });
    if (lo != null) { q.set("lo", String(lo)); q.set("hi", String(hi)); }
    return "/projects/" + encodeURIComponent(el.dataset.project) + "/chart?" + q.toString();
  }

  function toData(json) {
    var tables = json.series.map(function (s) { return [s.steps, s.values]; });
    if (tables.length === 1) return [tables[0][0], tables[0][1]];
    return uPlot.join(tables);
  }

  function describe(el, json) {
    var sent = 0, total = 0;
    json.series.forEach(function (s) { sent += s.sent; total += s.total; });
    el.dataset.sent = String(sent);
    el.dataset.total = String(total);
    var meta = el.parentNode.querySelector(".chart-meta");
    if (meta) meta.textContent = total > sent ? sent.toLocaleString() + " of " + total.toLocaleString() + " points (min/max per bucket)" : total.toLocaleString() + " points";
  }

  function drawChart(el) {
    fetch(chartUrl(el)).then(function (r) { return r.json(); }).then(function (json) {
      el._json = json;
      describe(el, json);
      var runIds = el.dataset.runs.split(",");
      var seriesOpts = [{ label: "step" }];
      json.series.forEach(function (s) {
        var i = runIds.indexOf(s.run);
        seriesOpts.push({ label: runIds.length > 1 ? s.run : el.dataset.key, stroke: COLORS[(i < 0 ? 0 : i) % 10], width: 1.5, spanGaps: true, points: { show: false } });
      });
      var opts = {
        width: el.clientWidth || 420, height: 210,
        series: seriesOpts,
        scales: { x: { time: false } },
        axes: [{ stroke: "#6b7280", grid: { stroke: "#f0f1f4" }, ticks: { stroke: "#e3e6ea" } },
               { stroke: "#6b7280", grid: { stroke: "#f0f1f4" }, ticks: { stroke: "#e3e6ea" }, values: function (u, vs) { return vs.map(fmt); }, size: 56 }],
        cursor: { drag: { x: true, y: false, setScale: false } },
        legend: { show: false },
        hooks: {
          setSelect: [function (u) {
            if (u.select.width < 3) return;
            var lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            var zoom = el._zoom = lo + ":" + hi;
            var load = function (tries) {
              fetch(chartUrl(el, lo, hi)).then(function (r) { return r.json(); }).then(function (j) {
                if (el._zoom !== zoom) return;
                el._json = j; describe(el, j); el.dataset.zoomed = "1";
                u.setData(toData(j), false);
                u.setScale("x", { min: lo, max: hi });
                u.setScale("y", yRange(j));
                /* answered from the preview while the server reads the whole series: ask again */
                var coarse = j.series.some(function (s) { return s.exact === false; });
                el.dataset.exact = coarse ? "0" : "1";
                if (coarse && tries > 0) setTimeout(function () { load(tries - 1); }, 1000);
              });
            };
            load(30);
          }],
        },
      };
      var u = new uPlot(opts, toData(json), el);
      el._plot = u;
      u.over.addEventListener("dblclick", function () {
        el._zoom = null;
        fetch(chartUrl(el)).then(function (r) { return r.json(); }).then(function (j) {
          el._json = j; describe(el, j); delete el.dataset.zoomed; u.setData(toData(j), true);
        });
      });
      el.dataset.drawn = "1";
    }).catch(function (e) { el.textContent = "could not load this chart: " + e; });
  }

  function yRange(j) {
    var lo = Infinity, hi = -Infinity;
    j.series.forEach(function (s) { s.values.forEach(function (v) { if (v != null) { if (v < lo) lo = v; if (v > hi) hi = v; } }); });
    if (!isFinite(lo)) return { min: 0, max: 1 };
    var pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
    return { min: lo - pad, max: hi + pad };
  }

  /* ---------- sortable tables (logged tables) ---------- */
  function sortable(table) {
    table.querySelectorAll("thead th").forEach(function (th, i) {
      th.style.cursor = "pointer";
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var dir = th.dataset.dir === "asc" ? -1 : 1;
        table.querySelectorAll("thead th").forEach(function (h) { delete h.dataset.dir; });
        th.dataset.dir = dir === 1 ? "asc" : "desc";
        rows.sort(function (a, b) {
          var x = a.cells[i].textContent.trim(), y = b.cells[i].textContent.trim();
          var nx = parseFloat(x), ny = parseFloat(y);
          if (!isNaN(nx) && !isNaN(ny)) return (nx - ny) * dir;
          return x.localeCompare(y) * dir;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  /* ---------- lineage graph ---------- */
  var NODE_STYLE = [
    { selector: "node", style: { "label": "data(label)", "font-size": 11, "font-family": "system-ui, sans-serif", "text-valign": "center", "text-halign": "center", "width": 170, "height": 40, "shape": "round-rectangle", "text-wrap": "wrap", "text-max-width": 160, "border-width": 1.5, "color": "#1f2328" } },
    { selector: "node[kind = 'run']", style: { "background-color": "#e7efff", "border-color": "#1c64d9", "shape": "round-rectangle" } },
    { selector: "node[state = 'failed'], node[state = 'crashed']", style: { "background-color": "#fdecea", "border-color": "#c62828" } },
    { selector: "node[state = 'cached']", style: { "background-color": "#f1ebfd", "border-color": "#7a4fd1" } },
    { selector: "node[kind = 'artifact']", style: { "background-color": "#fff6e3", "border-color": "#d08b00", "shape": "rectangle" } },
    { selector: "node[kind = 'cluster']", style: { "background-color": "#eef0f3", "border-color": "#6b7280", "border-style": "dashed", "border-width": 2 } },
    { selector: "node.root", style: { "border-width": 3.5, "font-weight": "bold" } },
    { selector: "node:selected", style: { "overlay-color": "#f5a623", "overlay-opacity": 0.18 } },
    { selector: "edge", style: { "width": 1.5, "line-color": "#b5bcc6", "target-arrow-color": "#b5bcc6", "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.9 } },
  ];

  function toElements(data) {
    var els = [];
    data.nodes.forEach(function (n) {
      var label = n.label + "\n" + (n.sub || "") + (n.aliases && n.aliases.length ? " · " + n.aliases.join(", ") : "");
      els.push({ group: "nodes", data: Object.assign({}, n, { label: label, name: n.label }), position: { x: n.x, y: n.y }, classes: n.id === data.root ? "root" : "" });
    });
    data.edges.forEach(function (e) { els.push({ group: "edges", data: { id: e.source + "->" + e.target, source: e.source, target: e.target } }); });
    return els;
  }

  function lineage(el) {
    var data = JSON.parse(document.getElementById("graph-data").textContent);
    var cy = cytoscape({ container: el, elements: toElements(data), style: NODE_STYLE, layout: { name: "preset", fit: true, padding: 40 }, wheelSensitivity: 0.25, maxZoom: 2.5, minZoom: 0.05 });
    var state = { cy: cy, expanded: (data.expanded || []).slice(), busy: false };
    window.__lineage = state;
    el.dataset.nodes = String(cy.nodes().length);
    var info = document.getElementById("node-info");

    function show(n) {
      var d = n.data(), html = "<h3>" + esc(d.name) + "</h3><div class='muted small'>" + esc(d.kind === "cluster" ? d.count + " " + (d.of === "run" ? "runs" : "versions") + " of " + d.sub : d.sub || "") + "</div>";
      if (d.state) html += "<p><span class='state " + esc(d.state) + "'>" + esc(d.state) + "</span></p>";
      if (d.aliases && d.aliases.length) html += "<p>" + d.aliases.map(function (a) { return "<span class='alias'>" + esc(a) + "</span>"; }).join(" ") + "</p>";
      if (d.href) html += "<p><a class='btn small' href='" + d.href + "'>Open " + (d.kind === "run" ? "run" : "artifact") + "</a> <a class='btn small' href='?ref=" + encodeURIComponent(d.ref) + "&depth=" + el.dataset.depth + "'>Center here</a></p>";
      if (d.kind === "cluster") html += "<p class='muted small'>Expanded on click into its members.</p>";
      info.innerHTML = html;
    }

    cy.on("tap", "node", function (evt) {
      var n = evt.target;
      show(n);
      var id = n.id();
      if (state.busy || state.expanded.indexOf(id) >= 0) return;
      state.expanded.push(id);
      state.busy = true;
      var q = new URLSearchParams({ ref: el.dataset.ref, depth: el.dataset.depth });
      state.expanded.forEach(function (x) { q.append("expand", x); });
      fetch(el.dataset.url + "?" + q.toString()).then(function (r) { return r.json(); }).then(function (next) {
        var keep = {};
        next.nodes.forEach(function (x) { keep[x.id] = true; });
        cy.batch(function () {
          cy.nodes().forEach(function (x) { if (!keep[x.id()]) cy.remove(x); });
          cy.edges().remove();
          var els = toElements(next);
          els.forEach(function (e) {
            if (e.group === "nodes") {
              var have = cy.getElementById(e.data.id);
              if (have.length) { have.data(e.data); have.animate({ position: e.position }, { duration: 250 }); }
              else { cy.add(e); }
            }
          });
          cy.add(els.filter(function (e) { return e.group === "edges"; }));
        });
        el.dataset.nodes = String(cy.nodes().length);
        el.dataset.expanded = String(state.expanded.length);
        state.busy = false;
        setTimeout(function () { cy.animate({ fit: { eles: cy.elements(), padding: 40 } }, { duration: 250 }); }, 260);
      }).catch(function () { state.busy = false; });
    });
  }

  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; }); }

  function init() {
    if (window.uPlot) document.querySelectorAll(".chart").forEach(drawChart);
    document.querySelectorAll("table.sortable").forEach(sortable);
    var g = document.getElementById("graph");
    if (g && window.cytoscape) lineage(g);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

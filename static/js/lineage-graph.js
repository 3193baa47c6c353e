// Draws a lineage graph (the read API's document, embedded by the page with json_script as "lineage-data") with
// cytoscape and its dagre layout: upstream on the left. Unregistered, failed and personal-data nodes are marked by
// colour, border style AND a word in their label (never colour alone); another team's nodes are grey and unnamed.
// A click (or Enter on the focused canvas' selected node) opens the node's lineage page or registry object.
// Names are drawn as canvas text (never HTML), with control characters shown as \uXXXX escapes.
(function () {
  "use strict";
  var container = document.getElementById("lineage-graph");
  var source = document.getElementById("lineage-data");
  if (!container || !source || typeof cytoscape === "undefined") { return; }
  var doc = JSON.parse(source.textContent);
  if (typeof cytoscapeDagre !== "undefined" && !cytoscape.__lineageDagre) {
    try { cytoscape.use(cytoscapeDagre); } catch (e) { /* already registered by the extension itself */ }
    cytoscape.__lineageDagre = true;
  }
  var rootSource = document.getElementById("lineage-root");
  var root = rootSource ? JSON.parse(rootSource.textContent) : "";

  function visibleControls(text) {
    return String(text).replace(/[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g, function (c) {
      return "\\u" + ("0000" + c.charCodeAt(0).toString(16)).slice(-4);
    });
  }

  function shorten(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  function label(node) {
    var data = node.data || {};
    if (!data.visible) { return "not visible to you"; }
    var words = [];
    if (node.type === "DATASET" && !data.registered) { words.push("unregistered"); }
    if (data.failed) { words.push("failed"); }
    if (data.personalData) { words.push("personal data"); }
    var name = shorten(visibleControls(data.name || node.id), 48);
    var kind = node.type === "JOB" ? "job " : "";
    return kind + name + (words.length ? "\n[" + words.join(", ") + "]" : "");
  }

  function classes(node) {
    var data = node.data || {};
    var out = [node.type === "JOB" ? "job" : "dataset"];
    if (!data.visible) { out.push("hidden"); return out.join(" "); }
    if (node.type === "DATASET" && !data.registered) { out.push("unregistered"); }
    if (data.failed) { out.push("failed"); }
    if (data.personalData) { out.push("personal"); }
    if (node.id === root) { out.push("root"); }
    return out.join(" ");
  }

  var elements = [];
  var known = {};
  doc.graph.forEach(function (node) { known[node.id] = true; });
  doc.graph.forEach(function (node) {
    var data = node.data || {};
    elements.push({
      group: "nodes",
      data: {
        id: node.id,
        label: label(node),
        href: data.visible ? (data.lineageUrl || (data.registry && data.registry.webUrl) || "") : ""
      },
      classes: classes(node)
    });
  });
  var seen = {};
  doc.graph.forEach(function (node) {
    node.outEdges.forEach(function (edge) {
      var key = edge.origin + "\u0000" + edge.destination;
      if (seen[key] || !known[edge.origin] || !known[edge.destination]) { return; }
      seen[key] = true;
      elements.push({ group: "edges", data: { id: "e" + elements.length, source: edge.origin, target: edge.destination } });
    });
  });

  var cy = cytoscape({
    container: container,
    elements: elements,
    wheelSensitivity: 0.2,
    maxZoom: 1.6,  // a small graph is not blown up to fill the canvas
    style: [
      { selector: "node", style: {
        "label": "data(label)", "text-wrap": "wrap", "text-max-width": 150, "text-overflow-wrap": "anywhere",
        "font-size": 11,
        "text-valign": "bottom", "text-margin-y": 4, "color": "#1b2330",
        "width": 26, "height": 26, "border-width": 2
      } },
      { selector: "node.dataset", style: { "shape": "round-rectangle", "background-color": "#e3eef9", "border-color": "#0b4f8a" } },
      { selector: "node.job", style: { "shape": "ellipse", "background-color": "#e9ecf0", "border-color": "#3f4856" } },
      { selector: "node.unregistered", style: { "background-color": "#fdf1d8", "border-color": "#7a4a00", "border-style": "dashed", "border-width": 3 } },
      { selector: "node.failed", style: { "background-color": "#fbe6e6", "border-color": "#a4161a", "border-width": 4 } },
      { selector: "node.personal", style: { "shape": "diamond", "background-color": "#f3e5f5", "border-color": "#6a1b9a" } },
      { selector: "node.hidden", style: { "background-color": "#d9dde3", "border-color": "#b9c0ca", "border-style": "dotted", "color": "#566173" } },
      { selector: "node.root", style: { "width": 34, "height": 34, "border-width": 5, "font-weight": "bold" } },
      { selector: "edge", style: {
        "width": 1.5, "line-color": "#8a96a8", "target-arrow-color": "#8a96a8",
        "target-arrow-shape": "triangle", "curve-style": "bezier"
      } }
    ],
    layout: { name: "dagre", rankDir: "LR", nodeSep: 60, rankSep: 170, fit: true, padding: 40 }
  });

  cy.on("tap", "node", function (event) {
    var href = event.target.data("href");
    if (href) { window.location.assign(href); }
  });
  cy.on("mouseover", "node", function (event) {
    container.style.cursor = event.target.data("href") ? "pointer" : "default";
  });
  cy.on("mouseout", "node", function () { container.style.cursor = "default"; });
  container.setAttribute("data-drawn", String(cy.nodes().length));
  window.lineageGraph = cy;  // for the browser tests, and for a reader's console
})();

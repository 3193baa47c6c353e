// The audit report's charts (templates/audits/_chart.html): each <figure data-chart="ID"> names the
// <script type="application/json" id="ID"> holding its Vega-Lite spec, built on the server (audits/charts.py).
// The site's Content Security Policy forbids eval and inline styles, so vega-embed parses expressions to an AST
// and runs them with its bundled interpreter (ast: true), and injects no stylesheet (defaultStyle: false).
// Without JavaScript the figures' tables, beside each chart, say everything the chart draws.
(function () {
  "use strict";
  if (typeof window.vegaEmbed !== "function") {
    return;
  }
  var options = {
    mode: "vega-lite",
    ast: true,
    renderer: "svg",
    actions: false,
    defaultStyle: false,
    tooltip: false,
  };
  document.querySelectorAll("[data-chart]").forEach(function (figure) {
    var source = document.getElementById(figure.getAttribute("data-chart"));
    var target = figure.querySelector(".chart__canvas");
    if (!source || !target) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    window
      .vegaEmbed(target, spec, options)
      .then(function () {
        figure.classList.add("chart--drawn");
      })
      .catch(function (error) {
        figure.classList.add("chart--failed");
        target.textContent = "The chart could not be drawn; its figures are in the table.";
        console.warn("audit chart " + figure.getAttribute("data-chart") + ": " + error);
      });
  });
})();

/* Stiller Alarm – charts of the statistics page and the yearly report.
 *
 * The figures come from the page itself (<script type="application/json"
 * id="statistics-charts">, rendered by dispatch/web/console/statistics.py); the
 * tables beside each chart carry the same numbers for keyboards, screen
 * readers and printers without canvas. Chart.js is vendored (vendor/chart.umd.min.js).
 */
(function () {
  "use strict";

  var LEVEL_COLOURS = { 1: "#1d4ed8", 2: "#c2410c", 3: "#b91c1c" };
  var SERIES_COLOURS = ["#1f2937", "#9ca3af"];

  function readCharts() {
    var node = document.getElementById("statistics-charts");
    return node ? JSON.parse(node.textContent) : null;
  }

  function datasets(series, stacked) {
    return series.map(function (entry, index) {
      var colour = entry.level ? LEVEL_COLOURS[entry.level] : SERIES_COLOURS[index % 2];
      return {
        label: entry.label,
        data: entry.data,
        backgroundColor: colour,
        borderColor: colour,
        stack: stacked ? "all" : undefined,
      };
    });
  }

  function bar(id, chart, stacked) {
    var canvas = document.getElementById(id);
    if (!canvas || !chart) return null;
    return new window.Chart(canvas, {
      type: "bar",
      data: { labels: chart.labels, datasets: datasets(chart.series, stacked) },
      options: {
        animation: false, // the yearly report is printed; a chart mid-animation prints half-drawn
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: chart.series.length > 1, position: "bottom" } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
  }

  function draw() {
    var charts = readCharts();
    if (!charts || !window.Chart) return;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    var drawn = [
      bar("chart-months", charts.months, true),
      bar("chart-levels", charts.levels, false),
      bar("chart-hours", charts.hours, false),
    ];
    document.body.setAttribute("data-charts", String(drawn.filter(Boolean).length));
    // Charts follow the printed page's width, then the screen's again.
    window.addEventListener("beforeprint", function () {
      drawn.forEach(function (c) { if (c) c.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

// Dashboard charts (Chart.js, served locally): each <canvas data-chart=…> reads its data
// from a json_script block the page renders.
(function () {
  "use strict";

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  var palette = ["#3b6fd8", "#e07b39", "#3aa676", "#b24bb5", "#d4a017", "#5a6a85"];
  var builders = {
    daily: function () {
      var rows = data("data-daily");
      return {
        type: "line",
        data: {
          labels: rows.map(function (r) { return r.day; }),
          datasets: [
            { label: "Conversations", data: rows.map(function (r) { return r.conversations; }), borderColor: palette[0] },
            { label: "Messages", data: rows.map(function (r) { return r.messages; }), borderColor: palette[1] },
          ],
        },
      };
    },
    sentiment: function () {
      var rows = data("data-daily");
      return {
        type: "line",
        data: {
          labels: rows.map(function (r) { return r.day; }),
          datasets: [{ label: "Average sentiment (−1…1)", data: rows.map(function (r) { return r.sentiment; }), borderColor: palette[2], spanGaps: true }],
        },
        options: { scales: { y: { min: -1, max: 1 } } },
      };
    },
    hours: function () {
      var rows = data("data-hours");
      return {
        type: "bar",
        data: {
          labels: rows.map(function (r) { return String(r.hour).padStart(2, "0") + ":00"; }),
          datasets: [{ label: "Customer messages", data: rows.map(function (r) { return r.messages; }), backgroundColor: palette[0] }],
        },
      };
    },
    topics: function () {
      var rows = data("data-topics").slice(0, 15);
      return {
        type: "bar",
        data: {
          labels: rows.map(function (r) { return r.topic; }),
          datasets: [{ label: "Questions", data: rows.map(function (r) { return r.questions; }), backgroundColor: palette[3] }],
        },
        options: { indexAxis: "y" },
      };
    },
    trend: function () {
      var trend = data("data-trend");
      return {
        type: "line",
        data: {
          labels: trend.days,
          datasets: trend.series.map(function (s, i) {
            return { label: s.topic, data: s.counts, borderColor: palette[i % palette.length] };
          }),
        },
      };
    },
  };

  function draw() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var build = builders[canvas.dataset.chart];
      if (!build) return;
      var config = build();
      config.options = Object.assign({ animation: false, responsive: true }, config.options || {});
      new window.Chart(canvas, config);
      canvas.dataset.rendered = "true";
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

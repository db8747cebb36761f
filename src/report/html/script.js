(function () {
  "use strict";
  // Progressive enhancement only: the page reads the same without this script.
  function all(open) {
    document.querySelectorAll("details").forEach(function (d) { d.open = open; });
  }
  var e = document.getElementById("expand");
  var c = document.getElementById("collapse");
  if (e) { e.addEventListener("click", function () { all(true); }); }
  if (c) { c.addEventListener("click", function () { all(false); }); }
  // Print the collapsed tables too (except the price lists, which can be long), then restore.
  var opened = [];
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details:not([open]):not(.prices)").forEach(function (d) {
      d.open = true;
      opened.push(d);
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();

// Reloads a page marked data-refresh="<seconds>" on that period, unless
// the reader stopped it (remembered for the tab), the tab is hidden, or
// a form field has the focus.
(function () {
  "use strict";
  var secs = Number(document.body.dataset.refresh || 0);
  if (!secs) { return; }
  var key = "surge-console-refresh-off";
  var toggle = document.getElementById("refresh-toggle");
  var note = document.getElementById("refresh-note");
  function off() { return sessionStorage.getItem(key) === "1"; }
  function show() {
    if (!toggle) { return; }
    toggle.textContent = off() ? "Refresh every 5 s" : "Stop refreshing";
    note.firstChild.textContent = off() ? "Not refreshing. " : "Refreshes every 5 s. ";
  }
  if (toggle) {
    toggle.addEventListener("click", function () {
      sessionStorage.setItem(key, off() ? "0" : "1");
      show();
    });
  }
  show();
  setInterval(function () {
    var a = document.activeElement;
    var typing = a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT");
    if (!off() && !document.hidden && !typing) { location.reload(); }
  }, secs * 1000);
})();

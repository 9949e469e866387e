// Applies the chosen colour theme before the page paints: "dark", "light", or the system's.
(function () {
  "use strict";
  var chosen = null;
  try { chosen = window.localStorage.getItem("cronwork-theme"); } catch (e) { chosen = null; }
  if (chosen === "dark" || chosen === "light") {
    document.documentElement.setAttribute("data-theme", chosen);
  }
})();

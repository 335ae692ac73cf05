// U5: Salesforce's consent page opens in a new tab only once the Connect form was accepted here.
// The connect view answers with an HX-Trigger "salesforce-open" event carrying the URL. Loaded by
// salesforce/manage.html (an external file: the CSP allows no inline script).
(function () {
  "use strict";
  if (window.sfConnectOpen) {
    return;
  }
  window.sfConnectOpen = true;
  document.addEventListener("salesforce-open", function (event) {
    var url = event.detail && event.detail.url;
    if (!url) {
      return;
    }
    var tab = window.open(url, "_blank");
    if (tab) {
      tab.opener = null;
    } // else: a popup blocker said no; the page shows a link to open it by hand.
  });
})();

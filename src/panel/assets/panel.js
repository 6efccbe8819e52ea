// MeshMon panel: local times, "open for …", and a cheap refresh. The page is
// rendered on the collector; every PANEL_REFRESH seconds this asks for its
// live part again with the ETag it has, and the collector answers 304 (a few
// hundred bytes) when nothing changed. Paused while the tab is hidden.
(function () {
  'use strict';
  var refreshS = Number(document.body.getAttribute('data-refresh')) || 15;
  var live0 = document.getElementById('live');
  var etag = live0 ? live0.getAttribute('data-etag') : null;
  var timer = null;

  function ago(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return s + ' s';
    var m = Math.round(s / 60);
    if (m < 90) return m + ' min';
    var h = Math.floor(m / 60);
    if (h < 48) return h + ' h ' + (m % 60) + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  function localise(root) {
    var now = Date.now();
    root.querySelectorAll('time[datetime]').forEach(function (el) {
      var t = Date.parse(el.getAttribute('datetime'));
      if (isNaN(t)) return;
      el.title = el.getAttribute('datetime');
      el.textContent = el.classList.contains('ago') ? ago(now - t) + ' ago' : new Date(t).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
    });
    root.querySelectorAll('.since[data-t]').forEach(function (el) {
      var t = Date.parse(el.getAttribute('data-t'));
      if (!isNaN(t)) el.textContent = 'open for ' + ago(now - t);
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, refreshS * 1000);
  }

  function refresh() {
    if (document.hidden) return schedule();
    var live = document.getElementById('live');
    if (!live || !window.fetch) return;
    var headers = { 'X-Panel-Partial': '1' };
    if (etag) headers['If-None-Match'] = etag;
    fetch(location.href, { headers: headers, cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        if (res.status === 401) { location.reload(); return null; }
        if (res.status === 304 || !res.ok) return null;
        etag = res.headers.get('ETag');
        return res.text();
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          live.innerHTML = html;
          document.documentElement.setAttribute('data-refreshed', String(Date.now()));
        }
        localise(live);
      })
      .catch(function () { /* the collector is away: try again next time */ })
      .then(schedule);
  }

  document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
  localise(document);
  // The page carries its live part's ETag: already the first poll of an unchanged page costs a 304.
  schedule();
})();

// The review page: state, server calls and keys. Drawing is in review-render.js, the category
// picker and box drawing in review-tools.js. Records are paged by the server; every action
// POSTs one verdict and re-renders the record from the answer, so what is shown is what was logged.
/* global window, document, location, history, URLSearchParams */
(function () {
  'use strict';
  var R = window.ValorRender;
  var $ = function (id) {
    return document.getElementById(id);
  };
  var csrfMeta = document.querySelector('meta[name="valor-csrf"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  var state = {
    summary: null,
    filters: { category: '', status: 'any', stage: '', version: '', q: '' },
    audit: false,
    seed: null,
    offset: 0,
    limit: 48,
    total: 0,
    items: [],
    detail: -1, // position in items of the record in the detail view; -1: the grid
    boxId: null, // the selected box of the detail view
    busy: false,
  };

  // The token came in the URL once; the server set a cookie, so it need not stay in history.
  if (/[?&]token=/.test(location.search)) history.replaceState(null, '', location.pathname);

  function say(text, isError) {
    var m = $('message');
    m.textContent = text || '';
    m.hidden = !text;
    m.className = isError ? 'error' : '';
  }

  function api(path, init) {
    init = init || {};
    init.credentials = 'same-origin';
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var body;
        try {
          body = text ? JSON.parse(text) : null;
        } catch (e) {
          body = { error: text };
        }
        if (!res.ok) throw new Error((body && body.error) || 'HTTP ' + res.status);
        return body;
      });
    });
  }

  var picker = window.ValorTools.picker({
    labels: function () {
      return (state.summary && state.summary.labels) || [];
    },
    say: function (t, e) {
      say(t, e);
    },
  });
  var drawing = window.ValorTools.drawing({
    frame: function () {
      return $('detail-frame');
    },
    record: function () {
      return current();
    },
    say: function (t, e) {
      say(t, e);
    },
    done: function (bbox) {
      picker.open('category of the new box', function (name) {
        act('ADD', { bbox: bbox, category: name });
      });
    },
  });

  function post(body) {
    return api('/api/verdicts', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Valor-Csrf': csrf }, body: JSON.stringify(body) });
  }

  function query() {
    var p = new URLSearchParams();
    var f = state.filters;
    p.set('offset', String(state.offset));
    p.set('limit', String(state.limit));
    Object.keys(f).forEach(function (k) {
      if (f[k] && !(k === 'status' && f[k] === 'any')) p.set(k, f[k]);
    });
    if (state.audit) {
      p.set('audit', '1');
      if (state.seed !== null) p.set('seed', String(state.seed));
    }
    return p.toString();
  }

  function load(then) {
    return api('/api/records?' + query())
      .then(function (page) {
        state.items = page.items || [];
        state.total = page.total || 0;
        if (page.seed !== undefined) state.seed = page.seed;
        if (then) then();
        render();
      })
      .catch(function (e) {
        say('could not load records: ' + e.message, true);
      });
  }

  function loadSummary() {
    return api('/api/summary')
      .then(function (s) {
        var first = !state.summary;
        state.summary = s;
        if (state.seed === null) state.seed = s.auditSeed;
        $('dataset-name').textContent = s.dataset + ' · ' + s.records + ' records · reviewer ' + s.reviewer;
        if (first) R.fillFilters(s);
        var body = document.querySelector('#counts tbody');
        body.replaceChildren.apply(body, (s.categories || []).map(R.countRow));
        $('summary-note').textContent = s.verdicts + ' verdicts in the log. Italic: categories only rejected boxes have (not in label_map.json).';
      })
      .catch(function (e) {
        say('could not load the summary: ' + e.message, true);
      });
  }

  function loadAgreement() {
    return api('/api/agreement')
      .then(function (a) {
        var bar = $('agreement');
        bar.replaceChildren.apply(bar, R.agreement(a));
      })
      .catch(function (e) {
        $('agreement').textContent = 'agreement: ' + e.message;
      });
  }

  function render() {
    var inDetail = state.detail >= 0 && state.items[state.detail];
    $('grid-view').hidden = !!inDetail;
    $('detail').hidden = !inDetail;
    if (inDetail) renderDetail();
    else renderGrid();
  }

  function renderGrid() {
    var grid = $('grid');
    grid.replaceChildren.apply(grid, state.items.map(R.card));
    var last = Math.min(state.offset + state.items.length, state.total);
    $('page-info').textContent = state.total
      ? (state.audit ? 'audit sample (seed ' + state.seed + '): ' : '') + (state.offset + 1) + '–' + last + ' of ' + state.total
      : 'no records match';
    $('page-prev').disabled = state.offset === 0;
    $('page-next').disabled = state.offset + state.limit >= state.total;
  }

  function current() {
    return state.items[state.detail] || null;
  }

  function selectedBox(rec) {
    rec = rec || current();
    if (!rec) return null;
    for (var i = 0; i < rec.boxes.length; i++) if (rec.boxes[i].id === state.boxId) return rec.boxes[i];
    return null;
  }

  function renderDetail() {
    var rec = current();
    if (!selectedBox(rec)) state.boxId = rec.boxes.length ? rec.boxes[0].id : null;
    var f = $('detail-frame');
    f.replaceChildren.apply(f, R.frame(rec, { thumb: false, selectedId: state.boxId }));
    f.setAttribute('data-record-index', String(rec.index));
    var svg = f.querySelector('svg');
    svg.addEventListener('pointerdown', drawing.onPointerDown);
    svg.addEventListener('click', function (ev) {
      var id = ev.target && ev.target.getAttribute && ev.target.getAttribute('data-box-id');
      if (id && !drawing.active()) select(id);
    });
    var list = $('box-list');
    list.replaceChildren.apply(
      list,
      rec.boxes.map(function (b) {
        var li = R.boxItem(b, b.id === state.boxId);
        li.addEventListener('click', function () {
          select(b.id);
        });
        return li;
      }),
    );
    $('detail-meta').replaceChildren(
      R.el('div', { text: rec.filename + ' · ' + rec.width + '×' + rec.height }),
      R.el('div', { text: 'queries: ' + (rec.queries || []).join(', ') }),
      R.el('div', { text: 'verifier: ' + (rec.verifierVersions || []).join(', ') }),
    );
    $('detail-info').textContent =
      'record #' + rec.index + ' (' + (state.offset + state.detail + 1) + ' of ' + state.total + ')' + (state.audit ? ' · audit' : '');
    var sel = list.querySelector('li.selected');
    if (sel && sel.scrollIntoView) sel.scrollIntoView({ block: 'nearest' });
  }

  function select(id) {
    state.boxId = id;
    renderDetail();
  }

  function openDetail(pos) {
    state.detail = pos;
    state.boxId = null;
    drawing.cancel();
    render();
  }

  function closeDetail() {
    var rec = current();
    state.detail = -1;
    drawing.cancel();
    render();
    var card = rec && document.querySelector('[data-record-index="' + rec.index + '"].card');
    if (card) card.focus();
  }

  function step(delta) {
    if (state.busy) return;
    var next = state.detail + delta;
    if (next >= 0 && next < state.items.length) return openDetail(next);
    var offset = state.offset + (delta > 0 ? state.limit : -state.limit);
    if (offset < 0 || offset >= state.total) return say(delta > 0 ? 'this is the last record' : 'this is the first record');
    state.offset = offset;
    load(function () {
      state.detail = delta > 0 ? 0 : state.items.length - 1;
      state.boxId = null;
    });
  }

  function nextBox(delta) {
    var rec = current();
    if (!rec || !rec.boxes.length) return;
    var i = -1;
    rec.boxes.forEach(function (b, k) {
      if (b.id === state.boxId) i = k;
    });
    select(rec.boxes[(i + delta + rec.boxes.length) % rec.boxes.length].id);
  }

  function act(action, box, extra) {
    var rec = current();
    if (!rec || state.busy) return;
    if (!box) return say('no box selected (Tab selects one; d draws one)', true);
    var body = { index: rec.index, action: action, box: { bbox: box.bbox, category: box.category }, audit: state.audit };
    if (box.id) body.box.id = box.id;
    if (extra && extra.newLabel) body.newLabel = extra.newLabel;
    state.busy = true;
    post(body)
      .then(function (res) {
        state.items[state.detail] = res.record;
        var v = res.verdict || {};
        if (action === 'RELABEL') state.boxId = 'h|' + extra.newLabel + '|' + box.bbox.join(',');
        if (action === 'ADD') state.boxId = 'h|' + v.box.category + '|' + [v.box.x1, v.box.y1, v.box.x2, v.box.y2].join(',');
        say(res.warning ? res.warning : action + ' ' + (v.box ? v.box.category : '') + ' logged', !!res.warning);
        render();
        loadAgreement();
        loadSummary();
      })
      .catch(function (e) {
        say(action + ' failed: ' + e.message, true);
      })
      .then(function () {
        state.busy = false;
      });
  }

  function relabel() {
    var box = selectedBox();
    if (!box) return say('no box selected', true);
    picker.open('relabel “' + box.category + '” as', function (name) {
      act('RELABEL', box, { newLabel: name });
    });
  }

  function startDrawing() {
    if (!current()) return;
    drawing.start();
    say('drag on the image to draw the missing box (Esc cancels)');
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (picker.isOpen()) {
      if (ev.key === 'Escape') picker.close();
      return;
    }
    if (!$('help').hidden) {
      if (ev.key === 'Escape') $('help').hidden = true;
      return;
    }
    var tag = ev.target && ev.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') {
      if (ev.key === 'Escape' && ev.target.blur) ev.target.blur();
      return;
    }
    if (!current()) {
      if (ev.key === 'Enter' && ev.target && ev.target.classList && ev.target.classList.contains('card')) openCard(ev.target);
      else if (ev.key === '?') $('help').hidden = false;
      return;
    }
    var k = ev.key;
    var handled = true;
    if (k === 'j' || k === 'ArrowRight' || k === 'ArrowDown') step(1);
    else if (k === 'k' || k === 'ArrowLeft' || k === 'ArrowUp') step(-1);
    else if (k === 'Tab') nextBox(ev.shiftKey ? -1 : 1);
    else if (k === 'n') nextBox(1);
    else if (k === 'a') act('ACCEPT', selectedBox());
    else if (k === 'r') act('REJECT', selectedBox());
    else if (k === 'l') relabel();
    else if (k === 'd') startDrawing();
    else if (k === '?') $('help').hidden = false;
    else if (k === 'Escape') {
      if (drawing.active()) {
        drawing.cancel();
        say('');
      } else closeDetail();
    } else handled = false;
    if (handled) ev.preventDefault();
  }

  function openCard(node) {
    var idx = Number(node.getAttribute('data-record-index'));
    for (var i = 0; i < state.items.length; i++) if (state.items[i].index === idx) return openDetail(i);
  }

  function applyFilters() {
    state.filters = {
      category: $('filter-category').value,
      status: $('filter-status').value,
      stage: $('filter-stage').value,
      version: $('filter-version').value,
      q: $('filter-q').value.trim(),
    };
    state.offset = 0;
    state.detail = -1;
    load();
  }

  function wire() {
    document.addEventListener('keydown', onKey);
    $('filters').addEventListener('submit', function (ev) {
      ev.preventDefault();
      applyFilters();
    });
    ['filter-category', 'filter-status', 'filter-stage', 'filter-version'].forEach(function (id) {
      $(id).addEventListener('change', applyFilters);
    });
    $('audit').addEventListener('change', function () {
      state.audit = $('audit').checked;
      state.offset = 0;
      state.detail = -1;
      load();
    });
    $('grid').addEventListener('click', function (ev) {
      var node = ev.target && ev.target.closest ? ev.target.closest('[data-record-index]') : null;
      if (node) openCard(node);
    });
    $('page-prev').addEventListener('click', function () {
      state.offset = Math.max(0, state.offset - state.limit);
      load();
    });
    $('page-next').addEventListener('click', function () {
      state.offset += state.limit;
      load();
    });
    $('detail-back').addEventListener('click', closeDetail);
    $('detail-prev').addEventListener('click', function () {
      step(-1);
    });
    $('detail-next').addEventListener('click', function () {
      step(1);
    });
    $('help-button').addEventListener('click', function () {
      $('help').hidden = false;
    });
    $('help-close').addEventListener('click', function () {
      $('help').hidden = true;
    });
    document.querySelector('#counts tbody').addEventListener('click', function (ev) {
      var row = ev.target && ev.target.closest ? ev.target.closest('tr[data-category]') : null;
      if (!row) return;
      $('filter-category').value = row.getAttribute('data-category');
      applyFilters();
    });
  }

  wire();
  loadSummary().then(function () {
    load();
  });
  loadAgreement();
})();

// The review page's drawing: image cards, the detail view's image and box list, the
// per-class table and the agreement bar. Plain DOM, no framework, no build step; every
// string from the dataset goes in as text, never as HTML. Loaded before review.js, which
// holds the page's state and keys.
/* global window, document */
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var COLORS = { accepted: '#00c853', rejected: '#ff1744', personRejected: '#9e9e9e', personAdded: '#2979ff', selected: '#ffd600' };

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function svgEl(tag, attrs, children) {
    var e = document.createElementNS(SVG, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'className') e.setAttribute('class', v);
      else e.setAttribute(k, String(v));
    });
  }

  function append(e, children) {
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
  }

  /** How a box is drawn: accepted green, verifier-rejected dashed red, person-rejected dashed grey, person-made blue. */
  function kindOf(b) {
    var h = b.human;
    if (b.status === 'accepted') return String(b.id).indexOf('h|') === 0 || (h && (h.action === 'ADD' || h.action === 'RELABEL')) ? 'personAdded' : 'accepted';
    return h && h.action === 'REJECT' ? 'personRejected' : 'rejected';
  }

  function describe(b) {
    var parts = [b.category, b.status];
    if (b.stage) parts.push('rejected at ' + b.stage);
    if (b.reason) parts.push(b.reason);
    if (b.human) parts.push('person: ' + b.human.action + (b.human.newLabel ? ' → ' + b.human.newLabel : '') + ' by ' + b.human.reviewer);
    return parts.join(' · ');
  }

  /** The SVG overlay of a record: viewBox = the image's pixels, so boxes scale with the image. */
  function overlay(rec, opts) {
    var W = Math.max(1, rec.width || 1);
    var H = Math.max(1, rec.height || 1);
    var svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', 'data-record-overlay': rec.index });
    var font = Math.max(W, H) / (opts.thumb ? 20 : 42);
    (rec.boxes || []).forEach(function (b) {
      if (!b || !b.bbox || b.bbox.length !== 4) return;
      var kind = kindOf(b);
      var x = b.bbox[0];
      var y = b.bbox[1];
      var w = Math.max(1, b.bbox[2] - b.bbox[0]);
      var h = Math.max(1, b.bbox[3] - b.bbox[1]);
      var selected = opts.selectedId === b.id;
      if (selected)
        svg.appendChild(svgEl('rect', { className: 'halo', x: x, y: y, width: w, height: h, 'stroke-width': 9, 'vector-effect': 'non-scaling-stroke' }));
      var dashed = kind === 'rejected' || kind === 'personRejected';
      var rect = svgEl(
        'rect',
        {
          className: 'box' + (selected ? ' selected' : ''),
          x: x,
          y: y,
          width: w,
          height: h,
          stroke: COLORS[kind],
          'stroke-width': dashed ? 2 : 3,
          'stroke-dasharray': dashed ? '6 4' : null,
          'vector-effect': 'non-scaling-stroke',
          'data-box-id': b.id,
          'data-status': b.status,
          'data-stage': b.stage || '',
          'data-kind': kind,
          'data-human': b.human ? b.human.action : '',
          'data-selected': selected ? 'true' : null,
        },
        [svgEl('title', { text: describe(b) })],
      );
      svg.appendChild(rect);
      var ty = y > font + 2 ? y - 3 : y + font;
      svg.appendChild(svgEl('text', { x: x + 2, y: ty, fill: COLORS[kind], 'font-size': font.toFixed(1) }, [b.category + (b.stage ? ' ✕' + b.stage[0] : '')]));
    });
    return svg;
  }

  function frame(rec, opts) {
    var img = el('img', {
      src: rec.imageUrl,
      alt: rec.filename,
      width: rec.width,
      height: rec.height,
      loading: opts.thumb ? 'lazy' : null,
      draggable: 'false',
    });
    return [img, overlay(rec, opts)];
  }

  function card(rec) {
    var acc = 0;
    var rej = 0;
    (rec.boxes || []).forEach(function (b) {
      if (b.status === 'accepted') acc++;
      else rej++;
    });
    var name = String(rec.filename || '')
      .split('/')
      .pop();
    return el('div', { className: 'card', 'data-record-index': rec.index, tabindex: 0, title: rec.filename }, [
      el('div', { className: 'frame' }, frame(rec, { thumb: true })),
      el('div', { className: 'caption' }, [
        '#' + rec.index + ' ',
        el('span', { className: 'n-accepted', text: acc + ' accepted' }),
        ' · ',
        el('span', { className: 'n-rejected', text: rej + ' rejected' }),
        ' · ' + name.slice(0, 10),
      ]),
    ]);
  }

  function boxItem(b, selected) {
    var kind = kindOf(b);
    var cls = kind === 'personRejected' ? 'person-rejected' : kind === 'personAdded' ? 'person-added' : 'status-' + b.status;
    var head = b.category + ' — ' + b.status + (b.stage ? ' at ' + b.stage : '');
    var human = b.human ? 'person: ' + b.human.action + (b.human.newLabel ? ' → ' + b.human.newLabel : '') + ' (' + b.human.reviewer + ')' : null;
    return el('li', { className: selected ? 'selected' : null, 'data-list-box-id': b.id }, [
      el('span', { className: cls, text: head }),
      ' [' + b.bbox.join(', ') + ']',
      b.reason ? el('span', { className: 'reason', text: 'reason: ' + b.reason }) : null,
      human ? el('span', { className: 'reason', text: human }) : null,
    ]);
  }

  function fmt(x) {
    return x === null || x === undefined ? '–' : x.toFixed(2);
  }

  function rate(label, r) {
    if (!r || !r.reviewed) return el('span', { className: 'part', text: label + ': no reviews yet' });
    return el('span', { className: 'part', title: r.confirmed + ' of ' + r.reviewed + ' reviewed boxes; 95% Wilson interval' }, [
      label + ': ' + fmt(r.rate) + ' ',
      el('span', { className: 'ci', text: '[' + fmt(r.low) + '–' + fmt(r.high) + '] (' + r.confirmed + '/' + r.reviewed + ')' }),
    ]);
  }

  function agreement(a) {
    var audit = a.audit || {};
    return [
      rate('VLM-accepted kept by people (precision)', a.accepted),
      rate('VLM-rejected rejected by people', a.rejected),
      rate('audit: precision', audit.accepted),
      rate('audit: rejections', audit.rejected),
    ];
  }

  function countRow(c) {
    var r = c.rejected || {};
    return el(
      'tr',
      { className: c.label === null ? 'no-label' : null, 'data-category': c.name, title: c.label === null ? 'not in label_map.json' : 'label ' + c.label },
      [
        el('td', { text: c.name }),
        el('td', { text: c.accepted }),
        el('td', { text: r.COARSE || 0 }),
        el('td', { text: r.CROP || 0 }),
        el('td', { text: r.FINAL || 0 }),
        el('td', { text: c.humanRejected || 0 }),
        el('td', { text: c.humanAdded || 0 }),
      ],
    );
  }

  /** The filter menus and the picker's suggestions, from /api/summary (once). */
  function fillFilters(s) {
    var add = function (id, values, text) {
      var node = document.getElementById(id);
      (values || []).forEach(function (v) {
        node.appendChild(el('option', text ? { value: v, text: v } : { value: v }));
      });
    };
    add(
      'filter-category',
      (s.categories || []).map(function (c) {
        return c.name;
      }),
      true,
    );
    add('filter-version', s.verifierVersions, true);
    add('picker-list', s.labels, false);
  }

  window.ValorRender = {
    fillFilters: fillFilters,
    el: el,
    svgEl: svgEl,
    overlay: overlay,
    frame: frame,
    card: card,
    boxItem: boxItem,
    agreement: agreement,
    countRow: countRow,
    kindOf: kindOf,
  };
})();

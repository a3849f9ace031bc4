// The review page's two tools: the category picker (relabel, and the category of a drawn
// box; only the label map's categories) and drawing a missing box on the detail image (in
// the image's pixels). Each is made with callbacks into review.js, which owns the state.
/* global window, document */
(function () {
  'use strict';
  var R = window.ValorRender;
  var $ = function (id) {
    return document.getElementById(id);
  };

  /** o: {labels(): string[], say(text, isError)} */
  function picker(o) {
    var done = null;
    function open(title, then) {
      var labels = o.labels();
      if (!labels.length) return o.say('the label map has no categories to choose from', true);
      done = then;
      $('picker-title').textContent = title;
      var opts = $('picker-options');
      opts.replaceChildren.apply(
        opts,
        labels.map(function (l) {
          var b = R.el('button', { type: 'button', 'data-category': l, text: l });
          b.addEventListener('click', function () {
            choose(l);
          });
          return b;
        }),
      );
      $('picker-input').value = '';
      $('picker').hidden = false;
      $('picker-input').focus();
    }
    function close() {
      done = null;
      $('picker').hidden = true;
    }
    function choose(name) {
      var want = String(name || '')
        .trim()
        .toLowerCase();
      var hit = o.labels().filter(function (l) {
        return l.toLowerCase() === want;
      })[0];
      if (!hit) return o.say("'" + name + "' is not in the label map", true);
      var then = done;
      close();
      if (then) then(hit);
    }
    $('picker-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      choose($('picker-input').value);
    });
    $('picker-cancel').addEventListener('click', close);
    return {
      open: open,
      close: close,
      choose: choose,
      isOpen: function () {
        return !$('picker').hidden;
      },
    };
  }

  /** o: {frame(): element, record(): RecordView, say(text, isError), done(bbox)} */
  function drawing(o) {
    var st = null; // {start, end, rect} while drawing

    function start() {
      st = { start: null, end: null, rect: null };
      o.frame().classList.add('drawing');
    }

    function cancel() {
      if (st && st.rect) st.rect.remove();
      st = null;
      var f = o.frame();
      if (f) f.classList.remove('drawing');
    }

    function toImage(svg, ev) {
      var r = svg.getBoundingClientRect();
      var rec = o.record();
      var x = ((ev.clientX - r.left) / Math.max(1, r.width)) * rec.width;
      var y = ((ev.clientY - r.top) / Math.max(1, r.height)) * rec.height;
      return [Math.max(0, Math.min(rec.width - 1, x)), Math.max(0, Math.min(rec.height - 1, y))];
    }

    function onPointerDown(ev) {
      if (!st || !o.record()) return;
      var svg = ev.currentTarget;
      ev.preventDefault();
      var from = toImage(svg, ev);
      var rect = R.svgEl('rect', {
        x: from[0],
        y: from[1],
        width: 1,
        height: 1,
        fill: 'none',
        stroke: '#2979ff',
        'stroke-width': 3,
        'vector-effect': 'non-scaling-stroke',
        'data-drawing': 'true',
      });
      svg.appendChild(rect);
      st = { start: from, end: from, rect: rect };
      if (svg.setPointerCapture) svg.setPointerCapture(ev.pointerId);
      var move = function (e) {
        if (!st) return;
        var p = toImage(svg, e);
        st.end = p;
        rect.setAttribute('x', Math.min(from[0], p[0]));
        rect.setAttribute('y', Math.min(from[1], p[1]));
        rect.setAttribute('width', Math.abs(p[0] - from[0]));
        rect.setAttribute('height', Math.abs(p[1] - from[1]));
      };
      var up = function (e) {
        svg.removeEventListener('pointermove', move);
        svg.removeEventListener('pointerup', up);
        if (!st) return;
        move(e);
        var a = st.start;
        var b = st.end;
        var bbox = [Math.round(Math.min(a[0], b[0])), Math.round(Math.min(a[1], b[1])), Math.round(Math.max(a[0], b[0])), Math.round(Math.max(a[1], b[1]))];
        cancel();
        if (bbox[2] - bbox[0] < 2 || bbox[3] - bbox[1] < 2) return o.say('too small: drag across the object (d to try again)', true);
        o.done(bbox);
      };
      svg.addEventListener('pointermove', move);
      svg.addEventListener('pointerup', up);
    }

    return {
      start: start,
      cancel: cancel,
      onPointerDown: onPointerDown,
      active: function () {
        return !!st;
      },
    };
  }

  window.ValorTools = { picker: picker, drawing: drawing };
})();

// Gatehouse console: copy buttons, and nothing else. Every page works
// without this script (progressive enhancement); it is a separate file
// because the Content-Security-Policy allows no inline script.
(function () {
  'use strict';

  var live = null;

  function announce(text) {
    if (!live) {
      live = document.getElementById('live');
    }
    if (live) {
      live.textContent = '';
      // A fresh text node after clearing makes screen readers repeat the
      // message when the same button is used twice.
      window.setTimeout(function () { live.textContent = text; }, 50);
    }
  }

  // selectText selects the element's text so that the person can copy it
  // with the keyboard when the clipboard API is unavailable or refused.
  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function flash(button, text) {
    var original = button.getAttribute('data-label') || button.textContent;
    button.setAttribute('data-label', original);
    button.textContent = text;
    window.setTimeout(function () { button.textContent = original; }, 2000);
  }

  function copy(button) {
    var target = document.getElementById(button.getAttribute('data-copy'));
    if (!target) {
      return;
    }
    var text = target.textContent;
    var fallback = function () {
      selectText(target);
      flash(button, 'Press Ctrl+C');
      announce('Selected. Press Control C, or Command C, to copy.');
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        flash(button, 'Copied');
        announce('Copied to the clipboard.');
      }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    var buttons = document.querySelectorAll('button[data-copy]');
    for (var i = 0; i < buttons.length; i++) {
      (function (b) {
        b.hidden = false;
        b.addEventListener('click', function () { copy(b); });
      })(buttons[i]);
    }
  });
})();

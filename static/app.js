// Natter's only script: everything else is htmx attributes and server fragments.
// An external file with no inline handlers and no eval, so the strict CSP (script-src 'self') holds.
(() => {
  // Tells the server this browser runs the script, so opening a conversation leaves "seen" to the
  // page, which says it only while in view (a page opened in a background tab has read nothing).
  const cookieTail = `; path=/; max-age=31536000; SameSite=Lax${location.protocol === 'https:' ? '; Secure' : ''}`;
  document.cookie = `natter_js=1${cookieTail}`;
  // Times are rendered on the server, on the viewer's clock: say which, once (a zone chosen on the
  // account page stays). IANA names are letters, digits and / _ - +, all safe in a cookie.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && /^[A-Za-z0-9/_+-]{1,64}$/.test(zone) && !document.cookie.split('; ').some((c) => c.startsWith('natter_tz='))) {
    document.cookie = `natter_tz=${zone}${cookieTail}`;
  }
  document.documentElement.classList.add('scripted');
  let wasAtBottom = true;
  let socket = null; // the page socket's wrapper, while it is open
  let unanswered = []; // texts sent (or queued) whose send the server has not answered yet
  const draftBox = () => document.getElementById('body');
  // Puts texts back into the message box, in front of what has been typed since.
  const putBack = (texts) => {
    const b = draftBox();
    if (!b || !texts.length) return;
    b.value = texts.concat(b.value ? [b.value] : []).join('\n');
  };
  const scrollToBottom = () => { const m = document.getElementById('messages'); if (m) m.scrollTop = m.scrollHeight; };
  // Enter sends, Shift+Enter adds a newline (not during IME composition); delegated because the server replaces the form.
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.key !== 'Enter' || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    if (t.id === 'body' && t.form && t.form.id === 'composer') { e.preventDefault(); t.form.requestSubmit(); }
  });
  // Follow new messages only if the reader was already at the bottom, so reading history is not interrupted.
  document.addEventListener('htmx:wsBeforeMessage', () => {
    const m = document.getElementById('messages');
    wasAtBottom = !m || m.scrollHeight - m.scrollTop - m.clientHeight <= 40;
  });
  // A typing notice carries nothing but the notice: not the draft, the form's token or the headers.
  // (hx-params="typing" would do this, but the ws extension hands htmx 2's filterValues a plain
  // object and every keystroke threw "n.has is not a function".)
  // The keyup of the Enter that sent a message sees an emptied box: that is not typing.
  document.addEventListener('htmx:wsConfigSend', (e) => {
    if (e.target.id !== 'body') return;
    if (!e.target.value) { e.preventDefault(); return; }
    e.detail.messageBody = JSON.stringify({ typing: true });
  });
  // A file goes from the composer: chosen with the paperclip, pasted or dropped, shown as a chip
  // above the box; sending then uploads it with the box's text as its caption.
  const fileInput = () => document.getElementById('file');
  const chosenFile = () => { const f = fileInput(); return f && f.files && f.files[0]; };
  const showChip = () => {
    const chip = document.getElementById('attachment-chip');
    const box = draftBox();
    if (!chip || !box) return;
    const file = chosenFile();
    chip.hidden = !file;
    box.required = !file;
    if (!file) return;
    chip.querySelector('.chip-name').textContent = file.name;
    const kib = file.size / 1024;
    chip.querySelector('.chip-size').textContent = kib < 1024 ? `${Math.ceil(kib)} KiB` : `${(kib / 1024).toFixed(1)} MiB`;
    chip.querySelector('progress').value = 0;
  };
  const takeFile = (files) => {
    const f = fileInput();
    if (!f || !files || !files.length) return false;
    const chosen = new DataTransfer();
    chosen.items.add(files[0]);
    f.files = chosen.files;
    showChip();
    return true;
  };
  document.addEventListener('change', (e) => { if (e.target.id === 'file') showChip(); });
  document.addEventListener('click', (e) => {
    if (!e.target.closest('#attachment-chip .chip-remove') || !fileInput()) return;
    fileInput().value = '';
    showChip();
  });
  document.addEventListener('paste', (e) => {
    if (e.target.id === 'body' && e.clipboardData && takeFile(e.clipboardData.files)) e.preventDefault();
  });
  const overChat = (e) => e.target.closest && e.target.closest('main.chat') && e.dataTransfer;
  document.addEventListener('dragover', (e) => { if (overChat(e) && [...e.dataTransfer.types].includes('Files')) e.preventDefault(); });
  document.addEventListener('drop', (e) => { if (overChat(e) && takeFile(e.dataTransfer.files)) e.preventDefault(); });
  document.addEventListener('htmx:wsConfigSend', (e) => {
    if (e.target.id !== 'composer' || !chosenFile()) return;
    e.preventDefault(); // not over the socket: the upload form carries the file and the caption
    const box = draftBox();
    document.getElementById('caption').value = box.value;
    box.value = '';
    const replyTo = document.getElementById('reply-to');
    const uploadReplyTo = document.getElementById('upload-reply-to');
    if (replyTo && uploadReplyTo) uploadReplyTo.value = replyTo.value;
    document.getElementById('upload').requestSubmit();
  });
  // Empty the textarea as the message leaves (its text is already in the frame), so what is typed
  // next is never overwritten by the server's answer, which only renews the form's client id.
  document.addEventListener('htmx:wsConfigSend', (e) => {
    if (e.target.id !== 'composer' || e.defaultPrevented || (e.detail.errors && e.detail.errors.length)) return;
    const b = draftBox();
    if (!b) return;
    unanswered.push(b.value);
    b.value = '';
  });
  // "Seen" is the reader's to give: only a page in view says it has read what it shows.
  const markSeen = () => {
    if (socket && document.visibilityState === 'visible' && document.getElementById('messages')) {
      // Sent only over an open socket: a notice queued while offline would arrive later, maybe hidden.
      socket.send(JSON.stringify({ seen: true }));
    }
  };
  document.addEventListener('visibilitychange', markSeen);
  // After a push: scroll if following; put a refused message back in front of anything typed since;
  // and say "seen" if someone else's message arrived while the page is in view.
  document.addEventListener('htmx:wsAfterMessage', (e) => {
    if (wasAtBottom) scrollToBottom();
    const message = String(e.detail.message);
    if (message.includes('id="client-id"')) unanswered.shift(); // saved
    const error = document.getElementById('composer-error');
    if (error && error.dataset.unsent !== undefined) {
      unanswered.shift();
      putBack([error.dataset.unsent]);
      delete error.dataset.unsent;
    }
    if (message.includes('message theirs')) markSeen();
  });
  // Scrolled up to read, the reader is not pulled down by what arrives: a button offers the jump.
  const jumpButton = () => document.getElementById('jump-new');
  document.addEventListener('htmx:wsAfterMessage', (e) => {
    const b = jumpButton();
    const message = String(e.detail.message);
    if (b && !wasAtBottom && message.includes('beforeend:#live') && message.includes('message theirs')) b.hidden = false;
  });
  document.addEventListener('click', (e) => {
    if (e.target.id !== 'jump-new') return;
    scrollToBottom();
    e.target.hidden = true;
  });
  document.addEventListener('scroll', (e) => {
    const m = e.target;
    if (m.id === 'messages' && m.scrollHeight - m.scrollTop - m.clientHeight <= 40 && jumpButton()) jumpButton().hidden = true;
  }, true);
  // "Load earlier" inserts above what the reader sees: keep their place by keeping the distance
  // from the bottom (browsers do not anchor at the very top, which is where the link is).
  let keepFromBottom = null;
  document.addEventListener('htmx:beforeSwap', (e) => {
    const m = document.getElementById('messages');
    if (m && e.detail.target.classList.contains('load-earlier')) keepFromBottom = m.scrollHeight - m.scrollTop;
  });
  document.addEventListener('htmx:afterSwap', () => {
    const m = document.getElementById('messages');
    if (m && keepFromBottom !== null) m.scrollTop = m.scrollHeight - keepFromBottom;
    keepFromBottom = null;
  });
  // Toggle .disconnected so CSS shows "Reconnecting…" while the socket is down and users know updates may lag.
  const connection = (down) => () => document.body.classList.toggle('disconnected', down);
  document.addEventListener('htmx:wsClose', connection(true));
  // A send the socket took but never answered may be lost with it: put its text back. Sends still
  // in the extension's queue go out when it reconnects (only after 1006, 1011, 1012 and 1013).
  document.addEventListener('htmx:wsClose', (e) => {
    socket = null;
    const closed = e.detail.event;
    const reconnects = closed && [1006, 1011, 1012, 1013].includes(closed.code);
    const queue = (e.detail.socketWrapper && e.detail.socketWrapper.queue) || [];
    const queued = reconnects ? queue.filter((q) => q.sendElt && q.sendElt.id === 'composer').length : 0;
    putBack(unanswered.splice(0, unanswered.length - queued));
  });
  // A socket the server closed for good because the session ended (logged out in another tab,
  // or expired) gets no reconnect: go to the login form instead of "Reconnecting…" for ever.
  const destinations = { 'logged out': '/login', 'session expired': '/login' };
  document.addEventListener('htmx:wsClose', (e) => {
    const closed = e.detail.event;
    const destination = closed && closed.code === 1000 && destinations[closed.reason];
    if (destination) window.location.assign(destination);
  });
  document.addEventListener('htmx:wsError', connection(true));
  document.addEventListener('htmx:wsError', () => { socket = null; });
  // What the page's list shows, so a (re)connecting socket sends only what changed since: each
  // inbox row's badge carries its count and the conversation's change it is as of; the directory
  // says how many people it lists and the newest of them (new users are told apart by id).
  const shownLists = () => {
    const shown = { inbox: [], rows: 0, upto: null };
    for (const row of document.querySelectorAll('#inbox > li[id^="conversation-"]')) {
      const b = row.querySelector('.unread');
      shown.inbox.push([Number(row.id.slice('conversation-'.length)), Number(b.dataset.seq), Number(b.dataset.count)]);
    }
    for (const row of document.querySelectorAll('#contacts > li[id^="contact-"]')) {
      const id = Number(row.id.slice('contact-'.length));
      shown.rows += 1;
      shown.upto = Math.max(shown.upto ?? id, id);
    }
    return shown;
  };
  document.addEventListener('htmx:wsOpen', (e) => {
    connection(false)();
    socket = e.detail.socketWrapper;
    if (document.querySelector('#inbox, #contacts')) socket.send(JSON.stringify({ resume: shownLists() }));
    if (document.visibilityState !== 'visible') socket.send(JSON.stringify({ visible: false }));
    markSeen();
  });
  // The server pushes to a browser only while none of its user's pages is in view: each page says
  // when it comes into view or leaves it (a socket counts as in view until told otherwise).
  document.addEventListener('visibilitychange', () => {
    if (socket) socket.send(JSON.stringify({ visible: document.visibilityState === 'visible' }));
  });
  // The tab says how much is unread, "(3) Natter" and a dot on its icon, following the badges.
  const attention = () => {
    if (!document.getElementById('inbox')) return;
    const badges = document.querySelectorAll('#inbox .unread');
    let total = 0;
    for (const b of badges) total += Number(b.dataset.count) || 0;
    const base = document.title.replace(/^\(\d+\+?\) /, '');
    document.title = total ? `(${total > 99 ? '99+' : total}) ${base}` : base;
    const icon = document.getElementById('favicon');
    if (icon) icon.href = total ? icon.dataset.unread : icon.dataset.read;
  };
  document.addEventListener('htmx:wsAfterMessage', attention);
  // The filter box narrows its list as you type (without the script it is a GET form the server
  // answers); rows the server pushes later are filtered too.
  const filterRows = () => {
    const box = document.getElementById('filter');
    const list = box && document.querySelector(box.dataset.filters);
    if (!list) return;
    const query = box.value.trim().toLowerCase();
    for (const row of list.children) row.hidden = Boolean(query) && !(row.dataset.name || '').includes(query);
  };
  document.addEventListener('input', (e) => { if (e.target.id === 'filter') filterRows(); });
  document.addEventListener('submit', (e) => {
    if (!e.target.classList.contains('filter')) return;
    e.preventDefault();
    filterRows();
  });
  document.addEventListener('htmx:wsAfterMessage', filterRows);
  // A changed message (edited, deleted, reacted to) arrives whole in #changes: it takes the place of
  // its bubble if the page shows it (keeping its place in a run), and is dropped if not (history not
  // loaded): an out-of-band swap of a missing element would be an error. What the person is doing
  // with the bubble survives: an edit form stays (saving or cancelling fetches the message as it is
  // then) unless the message was deleted meanwhile, and an open (or still loading) menu or delete
  // question moves into the fresh bubble.
  document.addEventListener('htmx:wsAfterMessage', () => {
    const changes = document.getElementById('changes');
    if (!changes) return;
    for (const fresh of [...changes.children]) {
      const old = document.getElementById(fresh.id);
      if (!old || old === fresh || (old.classList.contains('editing') && !fresh.classList.contains('deleted'))) {
        fresh.remove();
        continue;
      }
      fresh.classList.toggle('continued', old.classList.contains('continued'));
      // The menu slot itself moves, not only an open menu: a menu still loading is swapped into the
      // element it was requested for, which must then be on the page.
      const menu = old.querySelector('.menu-slot');
      const freshMenu = fresh.querySelector('.menu-slot');
      if (menu && freshMenu) freshMenu.replaceWith(menu);
      old.replaceWith(fresh);
    }
  });
  // Reply: the menu's link fills the composer's reply field and shows what is answered above the box
  // (without the script the link opens the page with the composer set so).
  const replyChip = () => document.getElementById('reply-chip');
  const setReply = (bubble) => {
    const chip = replyChip();
    const field = document.getElementById('reply-to');
    if (!chip || !field) return;
    field.value = bubble ? bubble.id.slice('message-'.length) : '';
    chip.hidden = !bubble;
    if (!bubble) return;
    const who = bubble.querySelector('.visually-hidden');
    const body = bubble.querySelector('.body');
    chip.querySelector('.reply-sender').textContent = who ? who.textContent.replace(/: $/, '') : '';
    chip.querySelector('.reply-text').textContent = body ? body.textContent.split('\n')[0] : '';
  };
  document.addEventListener('click', (e) => {
    const link = e.target.closest('.reply-link');
    const bubble = link && document.getElementById(`message-${link.dataset.replyTo}`);
    if (!bubble || !replyChip()) return;
    e.preventDefault();
    setReply(bubble);
    const menu = link.closest('.menu-slot');
    if (menu) menu.replaceChildren();
    draftBox().focus();
  });
  document.addEventListener('click', (e) => {
    if (!e.target.closest('#reply-chip .chip-remove')) return;
    e.preventDefault();
    setReply(null);
  });
  document.addEventListener('htmx:wsConfigSend', (e) => {
    if (e.target.id === 'composer' && !e.defaultPrevented) setReply(null);
  });
  // A quote scrolls to the message it answers when the page has it (else its link opens the history
  // around it).
  document.addEventListener('click', (e) => {
    const quote = e.target.closest('a.quote');
    const original = quote && document.getElementById(quote.dataset.quotes);
    if (!original) return;
    e.preventDefault();
    original.scrollIntoView({ block: 'center' });
    original.classList.add('flash');
    setTimeout(() => original.classList.remove('flash'), 1500);
  });
  // "@": as a name is typed after it, the server offers the members it could be; picking one writes it.
  const mentionAt = (box) => /(^|[^\p{L}\p{N}_.-])@([\p{L}\p{N}_.-]*)$/u.exec(box.value.slice(0, box.selectionStart));
  document.addEventListener('input', (e) => {
    const list = document.getElementById('mention-list');
    if (e.target.id !== 'body' || !list) return;
    const typed = mentionAt(e.target);
    if (!typed) { list.replaceChildren(); return; }
    htmx.ajax('GET', `${list.dataset.source}?q=${encodeURIComponent(typed[2])}`, { target: '#mention-list', swap: 'outerHTML' });
  });
  document.addEventListener('click', (e) => {
    const pick = e.target.closest('[data-mention]');
    const box = draftBox();
    if (!pick || !box) return;
    const typed = mentionAt(box);
    const end = box.selectionStart;
    const start = typed ? end - typed[2].length - 1 : end;
    box.setRangeText(`@${pick.dataset.mention} `, start, end, 'end');
    document.getElementById('mention-list').replaceChildren();
    box.focus();
  });
  // Notifications, once turned on here (the permission is asked only when the button is pressed):
  // a conversation whose unread count grows while it is not in front of the reader (another one
  // open, the tab hidden, the window unfocused) shows a notification, and a sound if chosen. Tabs
  // and the service worker's push share a tag per message (the push's is "conversation-ID-SEQ"), so
  // several open tabs, or a hidden tab and a push, show it once. Muted conversations stay quiet;
  // "only mentions" speaks only when the badge carries "@".
  const canNotify = 'Notification' in window;
  const setting = (name) => localStorage.getItem(`natter-${name}`) === 'on';
  const notifying = () => canNotify && Notification.permission === 'granted' && setting('notify');
  const showToggles = () => {
    const toggle = document.getElementById('notify-toggle');
    const sound = document.getElementById('sound-toggle');
    if (!toggle || !canNotify) return;
    toggle.hidden = false;
    toggle.textContent = notifying() ? 'Turn off notifications' : 'Turn on notifications';
    toggle.setAttribute('aria-pressed', String(notifying()));
    sound.hidden = !notifying();
    sound.textContent = setting('sound') ? 'Sound on' : 'Sound off';
    sound.setAttribute('aria-pressed', String(setting('sound')));
  };
  // Web Push: with notifications on, this browser also asks the server to push to it while no Natter
  // page is in view (the service worker shows those, even with the browser closed). Where no push
  // service answers, notifications in open tabs still work.
  const csrfToken = () => {
    try {
      return JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'] || '';
    } catch {
      return '';
    }
  };
  const postForm = (url, fields) => fetch(url, {
    method: 'POST',
    headers: { 'X-CSRF-Token': csrfToken() },
    body: new URLSearchParams({ csrf: csrfToken(), ...fields }),
  });
  const canPush = 'serviceWorker' in navigator && 'PushManager' in window;
  const keyBytes = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  // Turning on and off run one after the other, so a quick on-off ends off.
  let pushing = Promise.resolve();
  const inTurn = (step) => { pushing = pushing.then(step); };
  const startPush = async () => {
    if (!canPush || !csrfToken()) return;
    try {
      const registration = await navigator.serviceWorker.register('/sw.js');
      let subscription = await registration.pushManager.getSubscription();
      // Told once per session (a new login ends the old session's subscription; removing it on the
      // account page is not undone by the next page).
      if (subscription && localStorage.getItem('natter-pushed') === csrfToken()) return;
      if (!subscription) {
        const key = await (await fetch('/push/key')).text();
        subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      }
      const { endpoint, keys } = subscription.toJSON();
      const stored = await postForm('/push/subscriptions', { endpoint, p256dh: keys.p256dh, auth: keys.auth });
      if (stored.ok) localStorage.setItem('natter-pushed', csrfToken());
    } catch (error) {
      console.info(`No push notifications in this browser: ${error.message}`);
    }
  };
  const stopPush = async () => {
    if (!canPush) return;
    try {
      const registration = await navigator.serviceWorker.getRegistration();
      const subscription = registration && (await registration.pushManager.getSubscription());
      if (!subscription) return;
      await postForm('/push/unsubscribe', { endpoint: subscription.endpoint });
      await subscription.unsubscribe();
      localStorage.removeItem('natter-pushed');
    } catch (error) {
      console.info(`Push notifications could not be turned off here: ${error.message}`);
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    showToggles();
    if (notifying()) inTurn(startPush);
  });
  document.addEventListener('click', async (e) => {
    if (e.target.id === 'notify-toggle') {
      if (notifying()) {
        localStorage.setItem('natter-notify', 'off');
        inTurn(stopPush);
      } else if ((await Notification.requestPermission()) === 'granted') {
        localStorage.setItem('natter-notify', 'on');
        inTurn(startPush);
      }
      showToggles();
    } else if (e.target.id === 'sound-toggle') {
      localStorage.setItem('natter-sound', setting('sound') ? 'off' : 'on');
      showToggles();
    }
  });
  // One audio context for the page: browsers start one made before the person touched the page
  // suspended, so it is resumed at each beep (and at the first touch, when the sound is on).
  let audio;
  const audioReady = () => {
    audio = audio || new AudioContext();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    return audio;
  };
  document.addEventListener('pointerdown', () => { if (!audio && setting('sound') && notifying()) audioReady(); });
  const beep = () => {
    const context = audioReady();
    const tone = context.createOscillator();
    const volume = context.createGain();
    tone.frequency.value = 880;
    volume.gain.value = 0.05;
    tone.connect(volume).connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.12);
  };
  const unreadBefore = new Map();
  document.addEventListener('htmx:wsBeforeMessage', () => {
    unreadBefore.clear();
    for (const b of document.querySelectorAll('#inbox .unread')) unreadBefore.set(b.id, Number(b.dataset.count) || 0);
  });
  document.addEventListener('htmx:wsAfterMessage', () => {
    if (!notifying()) return;
    for (const row of document.querySelectorAll('#inbox > li')) {
      const badge = row.querySelector('.unread');
      const link = row.querySelector('a');
      if (!badge || !link || (Number(badge.dataset.count) || 0) <= (unreadBefore.get(badge.id) ?? 0)) continue;
      const inFront = link.hasAttribute('aria-current') && document.visibilityState === 'visible' && document.hasFocus();
      const wanted = row.dataset.notify === 'all' || (row.dataset.notify === 'mentions' && row.querySelector('.mention-mark'));
      if (inFront || !wanted) continue;
      let shown;
      try {
        shown = new Notification(row.querySelector('.name').textContent, {
          body: row.querySelector('.preview').textContent.split('\n')[0],
          tag: `${row.id}-${badge.dataset.seq}`,
          icon: document.getElementById('favicon').dataset.read,
        });
      } catch {
        return; // where pages cannot notify themselves (Android), only a service worker can
      }
      shown.onclick = () => { window.focus(); location.assign(link.href); shown.close(); };
      if (setting('sound')) beep();
    }
  });
  // Uploads: show progress, clear the file form when done, and say why when the server refused it outright.
  document.addEventListener('htmx:xhr:progress', (e) => {
    const bar = document.querySelector('#attachment-chip progress');
    if (e.target.id === 'upload' && bar && e.detail.lengthComputable) bar.value = (e.detail.loaded / e.detail.total) * 100;
  });
  document.addEventListener('htmx:afterRequest', (e) => {
    if (e.target.id !== 'upload') return;
    const bar = document.querySelector('#attachment-chip progress');
    if (bar) bar.value = 0;
    // A refusal the server explains comes back as a status line, not an error.
    const status = document.getElementById('upload-status');
    const explained = Boolean(status && status.textContent.trim());
    if (e.detail.successful && !explained) {
      e.target.reset();
      showChip();
      const answered = document.getElementById('upload-reply-to');
      if (answered && answered.value) { answered.value = ''; setReply(null); }
      return;
    }
    // Refused: the file stays on its chip and the caption goes back into the box (and the reply
    // stays chosen).
    const box = draftBox();
    const caption = document.getElementById('caption');
    if (box && caption && !box.value) box.value = caption.value;
    if (status && !explained) status.textContent = e.detail.xhr.status === 413 ? 'That file is too large.' : 'The upload failed. Try again.';
  });
  // Open a conversation at its newest message, or at the message its address names (a search
  // result, a quote whose original was not loaded), centred (this deferred script runs before
  // DOMContentLoaded). The style marks that message (:target), with or without the script.
  document.addEventListener('DOMContentLoaded', () => {
    const named = location.hash.startsWith('#message-') && document.getElementById(location.hash.slice(1));
    if (named) named.scrollIntoView({ block: 'center' });
    else scrollToBottom();
  });
})();

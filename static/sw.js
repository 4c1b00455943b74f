// Natter's service worker: shows what the server pushes about new messages while no Natter page is
// in view (even with the browser closed), and opens the conversation when the notification is clicked.
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  event.waitUntil(self.registration.showNotification(data.title || 'Natter', {
    body: data.body || 'New message',
    tag: data.tag,
    data: { url: data.url || '/' },
    icon: '/static/icon-192.png',
  }));
});

// Take charge of open pages at once, so that a click can lead one of them to the conversation.
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || '/', self.location.origin);
  // Only this site's pages: a notification never leads elsewhere.
  const url = target.origin === self.location.origin ? target.href : self.location.origin;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const same = windows.find((w) => w.url === url);
    if (same) return same.focus();
    if (windows.length) {
      try {
        const tab = await windows[0].focus();
        return await tab.navigate(url);
      } catch {
        // A page this worker does not control cannot be led elsewhere: open a new one.
      }
    }
    return self.clients.openWindow(url);
  })());
});

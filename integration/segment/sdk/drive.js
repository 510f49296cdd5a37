// Sends one user's events through @segment/analytics-node, as a server
// would. node drive.js HOST WRITE_KEY USER APP_VERSION [refused]
// With "refused", only the event ingest refuses is sent.
// Prints {"sent": message} per message once delivered (or failed), then
// {"errors": [...]} with every failure the SDK reported.
const { Analytics } = require('@segment/analytics-node')

const [host, writeKey, user, appVersion, mode] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, flushAt: 10, flushInterval: 200, maxRetries: 5 })
const errors = []
const done = []
const context = {
  app: { name: 'Shop', version: appVersion, build: '710' },
  os: { name: 'iOS', version: '18.1' },
  device: { model: 'iPhone15,2', manufacturer: 'Apple' },
  locale: 'en-GB',
  timezone: 'Europe/London',
}
const report = (err, ctx) => {
  if (err) errors.push({ error: String(err.reason || err), messages: [ctx && ctx.event.messageId] })
  if (ctx) console.log(JSON.stringify({ sent: ctx.event }))
}
const orderedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 90000 + 123)

// An event name over the 200 characters ingest allows: refused alone.
const bad = () => analytics.track({ userId: user, event: 'x'.repeat(300), properties: { bad: true }, context }, report)
if (mode === 'refused') {
  bad()
} else {
  analytics.identify({ userId: user, traits: { email: user + '@example.com', plan: 'pro', address: { city: 'Leeds', zip: 'LS1' } }, context }, report)
  analytics.track({ userId: user, event: 'Order Completed', timestamp: orderedAt, context,
    properties: { total: 19.9, currency: 'EUR', items: ['sku-1', 'sku-2'], coupon: { code: 'WINTER', percent: 10 } } }, report)
  analytics.screen({ userId: user, name: 'Checkout', properties: { step: 2 }, context }, report)
  bad()
  analytics.track({ userId: user, event: 'App Opened', context }, report)
}

analytics.closeAndFlush({ timeout: 60000 }).then(() => {
  console.log(JSON.stringify({ errors }))
})

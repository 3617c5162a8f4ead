// Drives headless Chromium (Debian's /usr/bin/chromium) for Komar's
// browser test: opens the page given as argv[2], prints `SUBSCRIBED` once
// the page's MQTT.js client has subscribed, then `SHOWN <text>` once the
// page shows a received message and has published its reply. Any failure
// prints `ERROR ...` and exits 1. The Rust test (tests/browser.rs) runs it.
const { chromium } = require("playwright-core");
const fs = require("fs");
const os = require("os");
const path = require("path");

async function main() {
  const url = process.argv[2];
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "komar-chromium-"));
  // A fresh profile directory per run (launchPersistentContext is how
  // Playwright takes --user-data-dir).
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.KOMAR_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage();
    page.on("console", (m) => console.error("page:", m.text()));
    await page.goto(url);
    const status = page.locator("#status");
    await status.filter({ hasText: /^(subscribed|replied)$/ }).waitFor({ timeout: 15000 });
    console.log("SUBSCRIBED");
    await status.filter({ hasText: /^replied$/ }).waitFor({ timeout: 15000 });
    console.log("SHOWN " + (await page.locator("#received").textContent()));
  } finally {
    await browser.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.log("ERROR " + String(e).split("\n")[0]);
  process.exit(1);
});

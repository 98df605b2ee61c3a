// openclaw-telegram: the Telegram channel app (docs/CHANNEL-TELEGRAM.md). The kernel starts it with
// cwd = its package directory when channels.telegram.enabled is true.
#include "telegram_app.h"

int main() {
  oc::telegram::TelegramApp app;
  return app.Run();
}

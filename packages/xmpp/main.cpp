// @openclawos/xmpp: the XMPP channel app (docs/CHANNEL-XMPP.md).
#include "xmpp_app.h"

int main() {
  oc::xmpp::XmppApp app;
  return app.Run();
}

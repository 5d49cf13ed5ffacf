"""mock_pinterest — a faithful, stateful, fault-injecting mock of the Pinterest v5 API.

``create_app(config=None, *, clock=None)`` builds the Flask app; ``backend_of(app)`` reaches
its state in process; ``MockConfig`` holds every setting. See CONTRACTS.md §1 and ADMIN.md.

Modules: ``app`` (the factory), ``backend`` (state and rules), ``models`` (the state records),
``members`` (a customer list's members, compact: raw digests in sorted columns, a matched
count made at refreshes), ``records`` (the ``records`` of list writes), one blueprint per API area
(``oauth``, ``user_account``, ``ad_accounts``, ``customer_lists``, ``audiences``, ``admin``),
``pipeline``, ``wire``, ``errors``, ``faults``, ``ratelimit``, ``journal``, ``config``,
``redirects``, ``audience_rules``, ``serve``, ``pytest_plugin``.
"""

from mock_pinterest.app import create_app
from mock_pinterest.backend import Backend
from mock_pinterest.config import MockConfig
from mock_pinterest.pipeline import backend_of

__all__ = ["Backend", "MockConfig", "backend_of", "create_app"]

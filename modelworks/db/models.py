"""Imports every domain's tables so that Alembic and ``create_all`` see them all."""

import modelworks.data.models  # noqa: F401
import modelworks.iam.models  # noqa: F401
import modelworks.jobs.models  # noqa: F401
import modelworks.models.models  # noqa: F401
import modelworks.services.models  # noqa: F401
import modelworks.storage.ownership  # noqa: F401
import modelworks.training.models  # noqa: F401

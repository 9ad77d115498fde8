"""Imports every domain's tables so that Alembic and ``create_all`` see them all."""

import modelworks.data.tables  # noqa: F401
import modelworks.iam.tables  # noqa: F401
import modelworks.jobs.tables  # noqa: F401
import modelworks.models.tables  # noqa: F401
import modelworks.serving.tables  # noqa: F401
import modelworks.storage.tables  # noqa: F401
import modelworks.training.tables  # noqa: F401

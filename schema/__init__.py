"""ClusterCat schema: typed SQLAlchemy models of the catalogue (DESIGN.md §4).

One module per concept; import everything from here::

    from clustercat.schema import Source, Photometry, make_engine
"""

from . import migrate
from .base import Base
from .catalogue_entry import CatalogueEntry
from .classification import Classification, ClassificationMethod
from .crossmatch import CrossmatchPair, CrossmatchRun
from .engine import is_postgresql, make_engine, session_scope, write_transaction
from .injection import InjectionRun, InjectionTrial
from .ml import MlModel, MlPrediction
from .reference import Field, FieldFilter, Filter, Galaxy, GalaxyAlias, Image, Survey
from .release import CatalogueRelease, ProcessingRun, ReleaseFile
from .sed import SedFit, SedMethod, SspGrid, SspModel
from .selection import SourceSelection
from .source import Morphology, Photometry, Source

metadata = Base.metadata

__all__ = [
    "Base",
    "CatalogueEntry",
    "CatalogueRelease",
    "Classification",
    "ClassificationMethod",
    "CrossmatchPair",
    "CrossmatchRun",
    "Field",
    "FieldFilter",
    "Filter",
    "Galaxy",
    "GalaxyAlias",
    "Image",
    "InjectionRun",
    "InjectionTrial",
    "MlModel",
    "MlPrediction",
    "Morphology",
    "Photometry",
    "ProcessingRun",
    "ReleaseFile",
    "SedFit",
    "SedMethod",
    "Source",
    "SourceSelection",
    "SspGrid",
    "SspModel",
    "Survey",
    "is_postgresql",
    "make_engine",
    "metadata",
    "migrate",
    "session_scope",
    "write_transaction",
]

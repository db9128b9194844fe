"""The four workflows of the spec and the rules by which parameters skip their steps.

- analysis_depth "basic": refinement and report are skipped (recorded as skipped steps).
- include_forecasting false: the forecasting steps (forecast refresh, revenue forecast) are skipped,
  except in the revenue_forecast workflow, which is nothing else.
- target_segments: the segment-level steps (segment ROI, forecasts, recommendations, clustering)
  only look at those segments; plan-level steps (position, gap diagnosis) are unchanged.
"""

from __future__ import annotations

from pricewise.orchestration import forecast_steps, segment_steps, steps
from pricewise.orchestration.workflows import Parameters, Step, Workflow, merge, register


def _comprehensive_only(p: Parameters, _: str) -> str | None:
    return "analysis_depth is basic" if p.analysis_depth == "basic" else None


def _forecasting(p: Parameters, workflow: str) -> str | None:
    if workflow == "revenue_forecast" or p.include_forecasting:
        return None
    return "include_forecasting is false"


OFFERING = Step("offering", "Product offering summary", steps.offering)
POSITION = Step("position", "Competitive and cost position", steps.position)
SEGMENT_ROI = Step("segment_roi", "Segment ROI", steps.segment_roi)
FORECAST_REFRESH = Step("forecast_refresh", "Forecast refresh", forecast_steps.forecast_refresh, _forecasting)
REVENUE_FORECAST = Step("revenue_forecast", "Revenue forecast", forecast_steps.revenue_forecast, _forecasting)
GAP = Step("gap_diagnosis", "Gap diagnosis", steps.gap_diagnosis)
RECOMMENDATION = Step("recommendation", "Experimental pricing recommendation", steps.recommendation)
REFINEMENT = Step("refinement", "Refinement", steps.refinement, _comprehensive_only, needs=("recommendation",))
REPORT = Step("report", "Report", steps.report, _comprehensive_only)
CLUSTERING = Step("customer_clustering", "Customer clustering", segment_steps.customer_clustering)
DRAFTS = Step("draft_segments", "Draft segments", segment_steps.draft_segments,
              needs=("customer_clustering",))

PRICING = (OFFERING, POSITION, SEGMENT_ROI, FORECAST_REFRESH, REVENUE_FORECAST, GAP, RECOMMENDATION, REFINEMENT,
           REPORT)
SEGMENTATION = (CLUSTERING, DRAFTS)
FORECASTING = (FORECAST_REFRESH, REVENUE_FORECAST)

register(Workflow("pricing_analysis", "Pricing analysis", PRICING))
register(Workflow("customer_segmentation", "Customer segmentation", SEGMENTATION))
register(Workflow("revenue_forecast", "Revenue forecast", FORECASTING))
# Every step of the three once; segmentation before refinement and report, which close the run.
register(merge("full_analysis", "Full analysis", PRICING[:7], SEGMENTATION, FORECASTING, PRICING[7:]))

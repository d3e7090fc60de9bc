// The parts of Apache ECharts the page uses, and no more: the org chart (tree), the
// coverage breakdown (bar), their tooltips, axes and legend; drawn in SVG (its text is
// the page's text: found by the browser's search, read by screen readers and the tests),
// or on a canvas for a chart too large for SVG to pan smoothly.
import * as echarts from "echarts/core";
import { BarChart, TreeChart } from "echarts/charts";
import {
  GridComponent,
  LegendComponent,
  TooltipComponent,
} from "echarts/components";
import { CanvasRenderer, SVGRenderer } from "echarts/renderers";

echarts.use([TreeChart, BarChart, GridComponent, LegendComponent, TooltipComponent, SVGRenderer, CanvasRenderer]);

export const { init, getInstanceByDom, version } = echarts;

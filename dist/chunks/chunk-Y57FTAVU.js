import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
function n(e){return(r,i)=>{let t=i.find(s=>e(s)===e(r));return t&&t!==r?[t]:[]}}export{n as a};
